"""A map from image vectors into a sentence space, learned from (image, caption) pairs (numpy only;
`zsclf train --pairs`, measured with k-fold cross-validation in docs/retrieval.md).

Image i is embedded as  u_i = normalize(base_i + W x_i)  (base_i = 0 unless given, e.g. the
ConSE vector, so W is then a learned *residual*); caption c as  v_c = normalize(t_c + A t_c)
when a text-side residual A is learned, else v_c = t_c. Training minimises the bidirectional
hinge rank loss of Kiros, Salakhutdinov & Zemel (2014) / Karpathy & Fei-Fei (2015) over a batch
of B distinct images, each with one of its captions (s = u . v):

    L = 1/B [ sum_i sum_{j != i} max(0, m - s_ii + s_ij)      (image i -> captions)
            + sum_j sum_{i != j} max(0, m - s_jj + s_ij) ]    (caption j -> images)

or, with `hardest=True`, only the largest violation per query (VSE++, Faghri et al. 2018).
Adam, weight decay, early stopping on a held-out validation split of the *images* (R-sum or
loss). `ridge_map` gives the closed-form least-squares alternative; `kfold_splits` /
`cross_validate` keep every test image out of training.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..core.ranking import rsum
from ..errors import check_number


def normalize(x: np.ndarray) -> np.ndarray:
    """Row-wise L2 normalisation that keeps the dtype (float64 in the gradient checks; `core.vectors.normalize`
    makes float32)."""
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def _normalize_backward(z: np.ndarray, u: np.ndarray, grad_u: np.ndarray) -> np.ndarray:
    """d loss / d z for u = z / |z|, given d loss / d u."""
    norm = np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)
    return (grad_u - u * (u * grad_u).sum(axis=1, keepdims=True)) / norm


def bidirectional_hinge(u: np.ndarray, v: np.ndarray, margin: float, hardest: bool = False
                        ) -> tuple[float, np.ndarray, np.ndarray]:
    """Loss and gradients w.r.t. u [B, D] and v [B, D], where row i of u and row i of v match."""
    b = len(u)
    s = u @ v.T
    diag = np.diag(s)
    off = ~np.eye(b, dtype=bool)
    cost_cap = np.where(off, np.maximum(0.0, margin - diag[:, None] + s), 0.0)  # image i -> caption j
    cost_img = np.where(off, np.maximum(0.0, margin - diag[None, :] + s), 0.0)  # caption j -> image i
    if hardest:
        a = np.zeros_like(s)
        a[np.arange(b), cost_cap.argmax(axis=1)] = 1.0
        a *= cost_cap > 0
        c = np.zeros_like(s)
        c[cost_img.argmax(axis=0), np.arange(b)] = 1.0
        c *= cost_img > 0
        loss = cost_cap.max(axis=1).sum() + cost_img.max(axis=0).sum()
    else:
        a = (cost_cap > 0).astype(s.dtype)
        c = (cost_img > 0).astype(s.dtype)
        loss = cost_cap.sum() + cost_img.sum()
    g = a + c
    g[np.arange(b), np.arange(b)] = -a.sum(axis=1) - c.sum(axis=0)
    g /= b
    return float(loss / b), g @ v, g.T @ u


def embed_images(w: np.ndarray, x: np.ndarray, base: np.ndarray | None = None) -> np.ndarray:
    """normalize(base + x W^T): image vectors in the sentence space."""
    z = x @ w.T
    return normalize(z if base is None else base + z)


def embed_texts(a: np.ndarray | None, t: np.ndarray) -> np.ndarray:
    """normalize(t + t A^T), or t itself (normalised) without a text-side map."""
    return normalize(t if a is None else t + t @ a.T)


def loss_and_grad(w: np.ndarray, x: np.ndarray, t: np.ndarray, margin: float, base: np.ndarray | None = None,
                  a: np.ndarray | None = None, hardest: bool = False
                  ) -> tuple[float, np.ndarray, np.ndarray | None]:
    """Bidirectional hinge loss of one batch of matching rows (x_i, t_i) and its gradients for W (and A)."""
    z = x @ w.T if base is None else base + x @ w.T
    u = normalize(z)
    y = t if a is None else t + t @ a.T
    v = normalize(y)
    loss, gu, gv = bidirectional_hinge(u, v, margin, hardest)
    grad_w = _normalize_backward(z, u, gu).T @ x
    grad_a = None if a is None else _normalize_backward(y, v, gv).T @ t
    return loss, grad_w, grad_a


@dataclass
class PairsMapConfig:
    """Hyper-parameters of the pairs map."""

    margin: float = 0.2
    lr: float = 1e-3
    epochs: int = 300
    batch_size: int = 32
    weight_decay: float = 1e-3
    hardest: bool = False
    text_map: bool = False
    init: str = "zeros"  # "zeros" (needs a base: start at it), "random" (0.01 N(0,1)) or "ridge"
    ridge_alpha: float = 1.0
    val_fraction: float = 0.2
    patience: int = 30
    monitor: str = "rsum"  # early stopping on validation "rsum" (higher is better) or "loss"
    seed: int = 0

    def __post_init__(self) -> None:
        """NaN or infinity would train a map of NaN: refused when the settings are made, before any work."""
        for option, value in (("--margin", self.margin), ("--lr", self.lr), ("--weight-decay", self.weight_decay)):
            check_number(option, value, at_least=0)


@dataclass
class PairsMap:
    """The learned map(s) and how training went."""

    w: np.ndarray
    a: np.ndarray | None = None
    best_epoch: int = 0
    history: list[dict] = field(default_factory=list)

    def images(self, x: np.ndarray, base: np.ndarray | None = None) -> np.ndarray:
        return embed_images(self.w, x, base)

    def texts(self, t: np.ndarray) -> np.ndarray:
        return embed_texts(self.a, t)


def ridge_map(x: np.ndarray, y: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """W [D, F] minimising |x W^T - y|^2 + alpha |W|^2 (closed form, float64 solve)."""
    x64, y64 = np.asarray(x, np.float64), np.asarray(y, np.float64)
    gram = x64.T @ x64 + alpha * np.eye(x64.shape[1])
    return np.linalg.solve(gram, x64.T @ y64).T.astype(np.float32)


def captions_of(caption_image: np.ndarray, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Caption rows of the given images, and their image index *within* `images` (for sub-galleries)."""
    position = np.full(int(caption_image.max()) + 1, -1, dtype=np.int64)
    position[images] = np.arange(len(images))
    rows = np.flatnonzero(position[caption_image] >= 0)
    return rows, position[caption_image[rows]]


def _val_score(m: PairsMap, x, t, caption_image, base, margin, monitor) -> float:
    u, v = m.images(x, base), m.texts(t)
    if monitor == "loss":  # full-gallery hinge, one random caption per image is noisy: use all pairs
        s = u @ v.T
        pos = s[caption_image, np.arange(len(t))]
        own = caption_image[None, :] == np.arange(len(u))[:, None]
        cost = np.where(own, 0.0, np.maximum(0.0, margin - pos[None, :] + s))
        return -float(cost.sum() / len(t))
    return rsum(u @ v.T, caption_image)


def train_pairs_map(x: np.ndarray, t: np.ndarray, caption_image: np.ndarray, base: np.ndarray | None = None,
                    config: PairsMapConfig | None = None,
                    progress: Callable[[int, dict], None] | None = None) -> PairsMap:
    """Learn W (and A) on images x [N, F] (rows of `base` [N, D] match) and captions t [C, D].

    caption_image [C] gives each caption's image row. A fraction of the images (with all their
    captions) is held out for early stopping; the best map on it is returned.
    """
    cfg = config or PairsMapConfig()
    rng = np.random.default_rng(cfg.seed)
    x, t = np.asarray(x, np.float32), normalize(np.asarray(t, np.float32))
    n_img, dim = len(x), t.shape[1]
    if cfg.init == "zeros" and base is None:
        raise ValueError("init='zeros' needs a base (the map starts at it); use 'random' or 'ridge'")
    order = rng.permutation(n_img)
    n_val = int(round(n_img * cfg.val_fraction))
    val_img, tr_img = np.sort(order[:n_val]), np.sort(order[n_val:])
    tr_cap, tr_pos = captions_of(caption_image, tr_img)
    va_cap, va_pos = captions_of(caption_image, val_img)
    caps_by_image = [tr_cap[tr_pos == i] for i in range(len(tr_img))]
    xb = base[tr_img] if base is not None else None
    if cfg.init == "ridge":
        target = normalize(np.stack([t[c].mean(axis=0) for c in caps_by_image]))
        w = ridge_map(x[tr_img], target if base is None else target - xb, cfg.ridge_alpha)
    elif cfg.init == "random":
        w = (0.01 * rng.standard_normal((dim, x.shape[1]))).astype(np.float32)
    else:
        w = np.zeros((dim, x.shape[1]), np.float32)
    model = PairsMap(w, np.zeros((dim, dim), np.float32) if cfg.text_map else None)
    params = [model.w] + ([model.a] if cfg.text_map else [])
    moments = [(np.zeros_like(p), np.zeros_like(p)) for p in params]
    val_args = (x[val_img], t[va_cap], va_pos, base[val_img] if base is not None else None, cfg.margin, cfg.monitor)
    best, best_state, since, step = -np.inf, [p.copy() for p in params], 0, 0
    batch = min(cfg.batch_size, len(tr_img))
    steps_per_epoch = max(1, int(np.ceil(len(tr_cap) / batch)))
    for epoch in range(1, cfg.epochs + 1):
        total = 0.0
        for _ in range(steps_per_epoch):
            rows = rng.choice(len(tr_img), size=batch, replace=False)
            caps = np.array([rng.choice(caps_by_image[r]) for r in rows])
            loss, gw, ga = loss_and_grad(model.w, x[tr_img[rows]], t[caps], cfg.margin,
                                         xb[rows] if xb is not None else None, model.a, cfg.hardest)
            step += 1
            for p, g, (m1, m2) in zip(params, [gw, ga][:len(params)], moments, strict=True):
                g = g + cfg.weight_decay * p
                m1 *= 0.9
                m1 += 0.1 * g
                m2 *= 0.999
                m2 += 0.001 * g * g
                p -= cfg.lr * (m1 / (1 - 0.9 ** step)) / (np.sqrt(m2 / (1 - 0.999 ** step)) + 1e-8)
            total += loss
        score = _val_score(model, *val_args) if n_val else -total
        record = {"epoch": epoch, "train_loss": total / steps_per_epoch, "val": score}
        model.history.append(record)
        if progress:
            progress(epoch, record)
        if score > best:
            best, best_state, model.best_epoch, since = score, [p.copy() for p in params], epoch, 0
        else:
            since += 1
            if since >= cfg.patience:
                break
    model.w = best_state[0]
    model.a = best_state[1] if cfg.text_map else None
    return model


def kfold_splits(n: int, k: int = 5, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """k (train, test) index pairs over n items: a random partition into k near-equal test folds."""
    if not 2 <= k <= n:
        raise ValueError("need 2 <= k <= n")
    folds = np.array_split(np.random.default_rng(seed).permutation(n), k)
    return [(np.sort(np.concatenate(folds[:i] + folds[i + 1:])), np.sort(f)) for i, f in enumerate(folds)]


def cross_validate(n_images: int, run: Callable[[np.ndarray, np.ndarray], dict], k: int = 5,
                   seed: int = 0) -> list[dict]:
    """run(train_images, test_images) -> metrics for each of k folds (test images never train)."""
    return [run(train, test) for train, test in kfold_splits(n_images, k, seed)]
