"""Learning linear maps between the CNN's feature space and the label-embedding space (numpy only).

* DeViSE (Frome et al. 2013): M maps L2-normalised CNN features into the text space, trained
  with the hinge rank loss  sum_j max(0, margin - t_y.Mx + t_j.Mx)  over sampled wrong labels j,
  Adam, a held-out validation split and early stopping; a small random start.
* text -> visual (DEM, Zhang, Xiang & Gong 2017): a ridge map from label embeddings to the
  CNN's visual space, fitted without photos on (text embedding of class c, classifier row c)
  for the 1,000 ImageNet classes, optionally refined with photo prototypes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..core.progress import Progress, counter
from ..core.vectors import normalize


def ridge(x: np.ndarray, y: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """W minimising |x W^T - y|^2 + alpha |W|^2 (closed form); returns W with shape [y_dim, x_dim]."""
    gram = x.T @ x + alpha * np.eye(x.shape[1], dtype=np.float64)
    return np.linalg.solve(gram, x.T.astype(np.float64) @ y.astype(np.float64)).T.astype(np.float32)


@dataclass
class TrainConfig:
    """Hyper-parameters of DeViSE training."""

    margin: float = 0.1
    lr: float = 1e-3
    epochs: int = 200
    batch_size: int = 64
    negatives: int = 100
    weight_decay: float = 1e-4
    val_fraction: float = 0.2
    patience: int = 20
    seed: int = 0

    def __post_init__(self) -> None:
        from ..errors import ZsclfError

        for name in ("margin", "lr", "weight_decay"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0 or (name == "lr" and value == 0):
                sign = "positive" if name == "lr" else "non-negative"
                raise ZsclfError(f"--{name.replace('_', '-')} must be a finite {sign} number, not {value}")
        if not 0.0 <= self.val_fraction <= 0.9:
            raise ZsclfError(f"--val-fraction must be between 0 and 0.9, not {self.val_fraction}")
        if min(self.epochs, self.batch_size, self.negatives, self.patience) < 1:
            raise ZsclfError("--epochs, --negatives and --patience must be at least 1")


@dataclass
class TrainResult:
    """The learned map and its history."""

    matrix: np.ndarray
    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    val_hit: dict[str, float] = field(default_factory=dict)
    train_size: int = 0
    val_size: int = 0
    labels: int = 0


def stratified_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Train/validation indices with about `fraction` of each class held out (classes with one sample stay in train)."""
    rng = np.random.default_rng(seed)
    train, val = [], []
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        n_val = int(round(len(members) * fraction)) if len(members) > 1 else 0
        val.extend(members[:n_val])
        train.extend(members[n_val:])
    return np.array(sorted(train)), np.array(sorted(val), dtype=np.int64)


def rank_loss_and_grad(m: np.ndarray, x: np.ndarray, y: np.ndarray, t: np.ndarray, margin: float,
                       negatives: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean hinge rank loss over a batch and its gradient with respect to M.

    x [b, F] normalised features, y [b] label rows, t [L, D] label embeddings,
    negatives [b, n] candidate wrong labels per sample (entries equal to y are ignored).
    """
    projected = x @ m.T  # [b, D]
    pos = np.einsum("bd,bd->b", projected, t[y])  # t_y . M x
    neg = np.einsum("bd,bnd->bn", projected, t[negatives])  # t_j . M x
    violation = margin - pos[:, None] + neg
    active = (violation > 0) & (negatives != y[:, None])
    loss = float(np.where(active, violation, 0.0).sum(axis=1).mean())
    # d loss / d (Mx) = sum_active (t_j - t_y); then d/dM = outer with x
    coef = active.astype(np.float32)
    d_proj = np.einsum("bn,bnd->bd", coef, t[negatives]) - coef.sum(axis=1, keepdims=True) * t[y]
    grad = d_proj.T @ x / len(x)
    return loss, grad.astype(np.float32)


def rank_loss(m: np.ndarray, x: np.ndarray, y: np.ndarray, t: np.ndarray, margin: float) -> float:
    """Mean hinge rank loss against every label (no gradient: for validation; memory O(n x labels))."""
    scores = (x @ m.T) @ t.T
    pos = scores[np.arange(len(y)), y]
    violation = np.maximum(0.0, margin - pos[:, None] + scores)
    violation[np.arange(len(y)), y] = 0.0
    return float(violation.sum(axis=1).mean())


def hits(m: np.ndarray, x: np.ndarray, y: np.ndarray, t: np.ndarray, ks: tuple[int, ...] = (1, 5)) -> dict[str, float]:
    """hit@k of nearest label embeddings for normalise(M x)."""
    if len(x) == 0:
        return {f"@{k}": float("nan") for k in ks}
    scores = normalize(x @ m.T) @ t.T
    ranked = np.argsort(-scores, axis=1)
    return {f"@{k}": float((ranked[:, :k] == y[:, None]).any(axis=1).mean()) for k in ks}


def train_devise(features: np.ndarray, labels: np.ndarray, label_embeddings: np.ndarray,
                 config: TrainConfig | None = None,
                 progress: Callable[[int, float, dict], None] | None = None) -> TrainResult:
    """Learn M [D, F] with the hinge rank loss; returns the best map by validation hit@1 (then loss)."""
    cfg = config or TrainConfig()
    rng = np.random.default_rng(cfg.seed)
    x = normalize(features)
    t = normalize(label_embeddings)
    y = np.asarray(labels, dtype=np.int64)
    train_idx, val_idx = stratified_split(y, cfg.val_fraction, cfg.seed)
    xt, yt, xv, yv = x[train_idx], y[train_idx], x[val_idx], y[val_idx]
    m = (0.01 * rng.standard_normal((t.shape[1], x.shape[1]))).astype(np.float32)  # DeViSE: a small random start
    adam_m, adam_v = np.zeros_like(m), np.zeros_like(m)
    n_neg = min(cfg.negatives, len(t))
    history: list[dict] = []
    best = (-1.0, float("inf"))
    best_m, best_epoch, since_best, step = m.copy(), 0, 0, 0
    for epoch in range(1, cfg.epochs + 1):
        order = rng.permutation(len(xt))
        total = 0.0
        for start in range(0, len(order), cfg.batch_size):
            b = order[start:start + cfg.batch_size]
            negs = rng.integers(0, len(t), size=(len(b), n_neg)) if n_neg < len(t) else \
                np.broadcast_to(np.arange(len(t)), (len(b), len(t)))
            loss, grad = rank_loss_and_grad(m, xt[b], yt[b], t, cfg.margin, negs)
            grad += cfg.weight_decay * m
            step += 1
            adam_m = 0.9 * adam_m + 0.1 * grad
            adam_v = 0.999 * adam_v + 0.001 * grad * grad
            m -= cfg.lr * (adam_m / (1 - 0.9 ** step)) / (np.sqrt(adam_v / (1 - 0.999 ** step)) + 1e-8)
            total += loss * len(b)
        val_x, val_y = (xv, yv) if len(xv) else (xt, yt)
        val_loss = rank_loss(m, val_x, val_y, t, cfg.margin)
        record = {"epoch": epoch, "train_loss": total / len(xt), "val_loss": val_loss, **hits(m, val_x, val_y, t)}
        history.append(record)
        if progress:
            progress(epoch, record["train_loss"], record)
        key = (record["@1"], -val_loss)
        if key > (best[0], -best[1]):
            best, best_m, best_epoch, since_best = (record["@1"], val_loss), m.copy(), epoch, 0
        else:
            since_best += 1
            if since_best >= cfg.patience:
                break
    val_hit = hits(best_m, xv, yv, t) if len(xv) else {}
    return TrainResult(best_m, history, best_epoch, val_hit, len(xt), len(xv))


def text_to_visual_map(text_embeddings: np.ndarray, visual_targets: np.ndarray, alpha: float = 0.1) -> np.ndarray:
    """Ridge map [F, D] from normalised label embeddings to normalised visual vectors (DEM's direction)."""
    return ridge(normalize(text_embeddings), normalize(visual_targets), alpha)


def label_texts_for(samples_labels: list[tuple[str, str]], lookup: Path, template: str) -> list[str]:
    """Text per (label, id): the lookup file's row when the id is there (so glosses are used), else the label."""
    from ..data.labels import LabelSet, read_labels

    known = read_labels(lookup)
    row = {label_id: i for i, label_id in enumerate(known.ids) if label_id}
    picked = [row.get(label_id) for _, label_id in samples_labels]
    subset = LabelSet(
        names=[known.names[r] if r is not None else name for (name, _), r in zip(samples_labels, picked, strict=True)],
        ids=[label_id for _, label_id in samples_labels],
        synonyms=[known.synonyms[r] if r is not None else "" for r in picked],
        descriptions=[known.descriptions[r] if r is not None else "" for r in picked],
    )
    return subset.texts(template)


def run_training(data: str | Path, output: str | Path, only: str | None = None, labels: Path | None = None,
                 template: str = "gloss", progress: Progress | None = None, **hyper) -> TrainResult:
    """`zsclf train`: features (cached) -> label embeddings -> DeViSE -> projection file with metadata.

    `hyper` are TrainConfig fields. Progress: "extracting features" (photos), then "training" (epochs,
    with the loss and validation hit@1 as the note).
    """
    from ..core.device import SessionConfig
    from ..core.targets import check_output_file
    from ..data.dataset import read_dataset
    from ..data.labels import check_template, imagenet21k_path
    from ..errors import ZsclfError
    from ..index.meta import now
    from ..models.image_encoder import ImageEncoder
    from ..models.text_encoder import TextEncoder
    from ..pipeline.projection_file import ProjectionMeta, save_projection
    from ..version import __version__
    from .features import encode_images

    config = TrainConfig(**hyper)
    check_template(template)
    target = check_output_file(Path(output), "projection")  # before any work (a symlink is followed)
    samples = read_dataset(data, only)
    classes = list(dict.fromkeys((s.label, s.id) for s in samples))
    if len(classes) < 2:
        raise ZsclfError(f"{data}: training needs photos of at least 2 labels")
    encoder = ImageEncoder.load(config=SessionConfig(device="cpu", threads=1))
    text = TextEncoder.load(config=SessionConfig(device="cpu"))
    encoded = encode_images(encoder, [s.path for s in samples],
                            progress=counter(progress, "extracting features", len(samples)))
    if encoded.errors:
        first = next(iter(encoded.errors.values()))
        raise ZsclfError(f"{len(encoded.errors)} training photos could not be read (first: {first})")
    class_of = {c: i for i, c in enumerate(classes)}
    y = np.array([class_of[(samples[i].label, samples[i].id)] for i in encoded.ok])
    embeddings = text.embed(label_texts_for(classes, labels or imagenet21k_path(), template))

    def report(epoch: int, loss: float, record: dict) -> None:
        if progress:
            progress("training", epoch, config.epochs, f"loss {loss:.4f}, val hit@1 {record['@1']:.3f}")

    result = train_devise(encoded.features, y, embeddings, config, progress=report)
    meta = ProjectionMeta(
        kind="devise", space="text", template=template, image_encoder=encoder.ref, text_encoder=text.ref,
        zsclf_version=__version__, created=now(),
        trained_on={"data": str(data), "only": only, "photos": len(y), "labels": len(classes),
                    "label_ids": [i or n for n, i in classes][:50]},
        hyper_parameters=asdict(config), best_epoch=result.best_epoch, validation=result.val_hit,
        train_size=result.train_size, val_size=result.val_size,
        history=[{k: round(v, 5) if isinstance(v, float) else v for k, v in h.items()} for h in result.history])
    save_projection(target, result.matrix, meta)
    result.labels = len(classes)
    return result
