"""Fitting the hedging model on labelled photos (numbers in, `HedgingModel` numbers out; no files).

1. T_cnn: the NLL temperature of the CNN's logits on the photos of its own classes;
2. P(seen) = sigmoid(a * energy + b): a logistic fit of seen vs unseen photos, both groups weighted equally;
3. T_index: the hierarchical NLL temperature of the top-K index softmax on the unseen photos (the truth may
   be a node above the labels, e.g. "warbler" for a species the index lacks: its probability is the sum
   over the labels under it; a photo whose truth has no label in the top K counts at the floor 1e-4);
4. lambda(P) for a grid of P: the smallest lambda whose DARTS answers on all photos (seen and unseen
   weighted equally) are right for a share >= P (bisection over each photo's Pareto-optimal nodes).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ..pipeline.seen import energy

P_GRID = (0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 0.97, 0.99)
FLOOR = 1e-4


def log_softmax_t(scores: np.ndarray, temperature: float) -> np.ndarray:
    """Row-wise log-softmax of scores / T (float64; -inf scores stay -inf)."""
    z = np.asarray(scores, dtype=np.float64) / temperature
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def hierarchical_nll(scores: np.ndarray, truth: np.ndarray, temperature: float,
                     weights: np.ndarray | None = None, floor: float | None = None) -> float:
    """(Weighted) mean -log p(truth) under softmax(scores / T).

    truth: [n] column of the true label, or [n, L] bool mask of the labels under the true node (its
    probability is their sum). A photo whose mask is empty is skipped when `floor` is None, else scored
    -log(floor) (and every p is clipped at the floor)."""
    logp = log_softmax_t(scores, temperature)
    if truth.ndim == 1:
        per = -logp[np.arange(len(truth)), truth]
        keep = np.ones(len(per), dtype=bool)
    else:
        keep = truth.any(axis=1) if floor is None else np.ones(len(truth), dtype=bool)
        masked = np.where(truth[keep], logp[keep], -np.inf)
        top = np.max(masked, axis=1, keepdims=True)
        safe = np.where(np.isfinite(top), top, 0.0)
        with np.errstate(divide="ignore"):
            per = -(safe[:, 0] + np.log(np.exp(masked - safe).sum(axis=1)))
    if floor is not None:
        per = np.minimum(per, -np.log(floor))
    w = np.ones(int(keep.sum())) if weights is None else np.asarray(weights, dtype=np.float64)[keep]
    return float(np.sum(w * per) / np.sum(w))


def minimise_scalar(f: Callable[[float], float], lo: float, hi: float, iters: int = 60) -> float:
    """Golden-section search for the minimum of a unimodal f on [lo, hi]."""
    g = (np.sqrt(5.0) - 1.0) / 2.0
    a, b = lo, hi
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = f(c), f(d)
    for _ in range(iters):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = f(c)
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = f(d)
    return (a + b) / 2.0


def fit_temperature(scores: np.ndarray, truth: np.ndarray, lo: float = 1e-3, hi: float = 100.0,
                    weights: np.ndarray | None = None, floor: float | None = None) -> float:
    """The temperature in [lo, hi] (searched on a log scale) minimising `hierarchical_nll`."""
    def objective(log_t: float) -> float:
        return hierarchical_nll(scores, truth, float(np.exp(log_t)), weights, floor)

    return float(np.exp(minimise_scalar(objective, np.log(lo), np.log(hi))))


def fit_logistic(x: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None, l2: float = 1e-3,
                 iters: int = 100) -> tuple[float, float]:
    """1-D logistic regression P(y = 1 | x) = sigmoid(a * x + b) by Newton's method; returns (a, b)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=np.float64)
    mean, scale = x.mean(), x.std() + 1e-12
    z = np.stack([(x - mean) / scale, np.ones_like(x)], axis=1)
    theta = np.zeros(2)
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-np.clip(z @ theta, -50, 50)))
        grad = z.T @ (w * (p - y)) + l2 * theta
        hess = (z * (w * p * (1 - p))[:, None]).T @ z + l2 * np.eye(2)
        step = np.linalg.solve(hess, grad)
        theta -= step
        if np.abs(step).max() < 1e-10:
            break
    a = theta[0] / scale
    return float(a), float(theta[1] - a * mean)


def balanced_weights(seen: np.ndarray) -> np.ndarray:
    """Weights giving seen and unseen photos half the total each (mean weight 1)."""
    seen = np.asarray(seen, dtype=bool)
    w = np.where(seen, 0.5 / max(int(seen.sum()), 1), 0.5 / max(int((~seen).sum()), 1))
    return w * len(seen) / w.sum()


def fit_seen(logits: np.ndarray, seen: np.ndarray, temperature: float = 1.0) -> tuple[float, float]:
    """(a, b) of P(seen) = sigmoid(a * energy + b), seen and unseen photos weighted equally."""
    seen = np.asarray(seen, dtype=bool)
    return fit_logistic(energy(logits, temperature), seen.astype(np.float64), balanced_weights(seen))


def pareto_candidates(mass: np.ndarray, gain: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per photo, the nodes no other node beats on both gain and probability: the only possible DARTS answers
    for any lambda >= 0. Returns padded [B, F] arrays (node, mass, gain); padding: node -1, mass 0."""
    found = []
    for row in mass:
        nodes = np.flatnonzero(row > 0)
        order = nodes[np.lexsort((-row[nodes], -gain[nodes]))]  # gain descending, then mass descending
        m = row[order]
        best_before = np.maximum.accumulate(np.r_[-1.0, m[:-1]])
        found.append(order[m > best_before])
    width = max((len(f) for f in found), default=0)
    nodes = np.full((len(mass), max(width, 1)), -1, dtype=np.int64)
    for i, f in enumerate(found):
        nodes[i, :len(f)] = f
    safe = np.maximum(nodes, 0)
    cand_mass = np.where(nodes >= 0, np.take_along_axis(mass, safe, axis=1), 0.0)
    return nodes, cand_mass, np.where(nodes >= 0, gain[safe], 0.0)


def fit_darts_lambda(cand_mass: np.ndarray, cand_gain: np.ndarray, right: np.ndarray, target: float,
                     weights: np.ndarray | None = None, hi: float = 1e4, iters: int = 40) -> float:
    """The smallest lambda >= 0 (bisection on a log scale) whose DARTS answers are right for a (weighted)
    share >= `target`; `right` [B, F]: candidate f of photo b is a right answer. Accuracy rises with
    lambda (a larger lambda favours probable, general nodes); if even `hi` falls short, `hi`."""
    w = np.ones(len(cand_mass)) if weights is None else np.asarray(weights, dtype=np.float64)

    def accuracy(lam: float) -> float:
        pick = ((cand_gain + lam) * cand_mass).argmax(axis=1)
        return float(np.sum(w * right[np.arange(len(pick)), pick]) / w.sum())

    if accuracy(0.0) >= target:
        return 0.0
    lo, up = -6.0, float(np.log10(hi))
    if accuracy(10 ** up) < target:
        return float(10 ** up)
    for _ in range(iters):
        mid = (lo + up) / 2
        lo, up = (lo, mid) if accuracy(10 ** mid) >= target else (mid, up)
    return float(10 ** up)


def fit_lambda_table(cand_mass: np.ndarray, cand_gain: np.ndarray, right: np.ndarray, seen: np.ndarray,
                     p_grid: Sequence[float] = P_GRID) -> list[float]:
    """lambda(P) for each P of the grid (non-decreasing), seen and unseen photos weighted equally."""
    weights = balanced_weights(seen)
    lams = [fit_darts_lambda(cand_mass, cand_gain, right, p, weights) for p in p_grid]
    return [float(v) for v in np.maximum.accumulate(lams)]


def fit_temperatures(logits: np.ndarray, cnn_class: np.ndarray, top_scores: np.ndarray, top_rows: np.ndarray,
                     truth_mask: np.ndarray) -> tuple[float, float]:
    """(T_cnn on the seen photos' logits, T_index on the unseen photos' top-K scores; see the module doc).
    truth_mask [n_unseen, K]: which of an unseen photo's top-K labels lie under its truth."""
    seen = cnn_class >= 0
    t_cnn = fit_temperature(logits[seen], cnn_class[seen], 0.05, 20.0)
    scores = np.where(top_rows[~seen] >= 0, top_scores[~seen], -np.inf)
    t_index = fit_temperature(scores, truth_mask, 1e-3, 1.0, floor=FLOOR)
    return t_cnn, t_index

