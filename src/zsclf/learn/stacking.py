"""Choosing calibrated stacking's seen-class penalty gamma and measuring it (Chao et al. 2016): the
seen-vs-unseen accuracy curve, its area (AUSUC) and the harmonic mean H of seen and unseen hit@k.

For each photo, whether its true label is in the top k is a step function of gamma with one breakpoint,
computed exactly by `critical_gamma` (no grid): a photo of a seen class is a hit iff gamma <= g*, a photo
of an unseen class iff gamma >= g*. Everything else follows from those breakpoints.
"""

from __future__ import annotations

import numpy as np


def critical_gamma(scores: np.ndarray, truth: np.ndarray, seen_mask: np.ndarray, k: int = 1) -> np.ndarray:
    """[B] the gamma at which each photo's truth enters or leaves the top k.

    scores [B, L] over all labels; truth [B] true column; seen_mask [L]. "Always a hit" is +inf (seen
    truth) or -inf (unseen truth); "never" is NaN, which no comparison satisfies (ties favour the truth)."""
    scores = np.asarray(scores, dtype=np.float64)
    seen_mask = np.asarray(seen_mask, dtype=bool)
    out = np.empty(len(scores))
    for i, (row, t) in enumerate(zip(scores, truth, strict=True)):
        ts, t_seen = row[t], seen_mask[t]
        same = row[seen_mask] if t_seen else row[~seen_mask]
        other = row[~seen_mask] if t_seen else row[seen_mask]
        need = k - int(np.sum(same > ts))  # same-group labels stay ahead whatever gamma is
        if need <= 0:
            out[i] = np.nan
        elif need > len(other):
            out[i] = np.inf if t_seen else -np.inf
        else:
            kth = np.partition(other, len(other) - need)[len(other) - need]  # the need-th best other score
            out[i] = ts - kth if t_seen else kth - ts
    return out


def critical_gammas(queries: np.ndarray, vectors: np.ndarray | None, rows: np.ndarray, eligible: np.ndarray,
                    seen_mask: np.ndarray, k: int) -> np.ndarray:
    """`critical_gamma` of a batch of query vectors against all label `vectors` [L, d] (NaN where not eligible,
    or for all when `vectors` is None)."""
    out = np.full(len(rows), np.nan)
    if vectors is not None and eligible.any():
        full = np.asarray(queries[eligible], dtype=np.float32) @ vectors.T
        out[eligible] = critical_gamma(full, rows[eligible], seen_mask, k)
    return out


def accuracy_at(crit_seen: np.ndarray, crit_unseen: np.ndarray,
                gamma: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(seen hit rate, unseen hit rate) at each gamma, from the photos' critical gammas."""
    g = np.atleast_1d(np.asarray(gamma, dtype=np.float64))
    seen = (crit_seen[None, :] >= g[:, None]).mean(axis=1) if len(crit_seen) else np.full(len(g), np.nan)
    unseen = (crit_unseen[None, :] <= g[:, None]).mean(axis=1) if len(crit_unseen) else np.full(len(g), np.nan)
    return seen, unseen


def harmonic_mean(a: np.ndarray | float, b: np.ndarray | float) -> np.ndarray:
    """2ab / (a + b), 0 where a + b = 0."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(a + b > 0, 2 * a * b / (a + b), 0.0)


def curve(crit_seen: np.ndarray, crit_unseen: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The exact seen-vs-unseen accuracy curve: (gammas ascending from -inf to +inf, seen, unseen)."""
    both = np.concatenate([crit_seen, crit_unseen])
    finite = np.unique(both[np.isfinite(both)])
    eps = 1e-9 * max(1.0, float(np.abs(finite).max()) if len(finite) else 1.0)
    gammas = np.concatenate([[-np.inf], np.sort(np.concatenate([finite, finite + eps])), [np.inf]])
    seen, unseen = accuracy_at(crit_seen, crit_unseen, gammas)
    return gammas, seen, unseen


def ausuc(crit_seen: np.ndarray, crit_unseen: np.ndarray) -> float:
    """Area under the seen (x) vs unseen (y) accuracy curve as gamma sweeps from -inf to +inf."""
    _, x, y = curve(crit_seen, crit_unseen)
    return float(np.sum((x[:-1] - x[1:]) * (y[:-1] + y[1:]) / 2.0))


def best_gamma(crit_seen: np.ndarray, crit_unseen: np.ndarray) -> float:
    """The gamma maximising H on these photos: 0 when 0 is among the best (no change for nothing), else the
    middle of the best interval (its finite end when it is unbounded)."""
    gammas, seen, unseen = curve(crit_seen, crit_unseen)
    h = harmonic_mean(seen, unseen)
    if harmonic_mean(*accuracy_at(crit_seen, crit_unseen, 0.0))[0] >= h.max() - 1e-12:
        return 0.0
    i = j = int(np.argmax(h))
    while j + 1 < len(h) and h[j + 1] == h[i]:
        j += 1
    lo, hi = gammas[i], gammas[j]
    if not np.isfinite(lo):
        return float(hi) if np.isfinite(hi) else 0.0
    return float((lo + hi) / 2.0) if np.isfinite(hi) else float(lo)


def stacking_summary(crit: dict[int, tuple[np.ndarray, np.ndarray]], gamma: float) -> dict:
    """Seen and unseen hit@k, H@k at `gamma` and at 0, and AUSUC, for each k: crit[k] = (seen, unseen)."""
    out: dict = {"gamma": gamma, "seen_photos": 0, "unseen_photos": 0, "ausuc": {}, "hit": {}, "h": {}}
    for k, (cs, cu) in sorted(crit.items()):
        out["seen_photos"], out["unseen_photos"] = len(cs), len(cu)
        at = {f"gamma={g:g}": accuracy_at(cs, cu, g) for g in dict.fromkeys((0.0, gamma))}
        out["ausuc"][f"@{k}"] = ausuc(cs, cu)
        out["hit"][f"@{k}"] = {name: {"seen": float(s[0]), "unseen": float(u[0])} for name, (s, u) in at.items()}
        out["h"][f"@{k}"] = {name: float(harmonic_mean(s[0], u[0])) for name, (s, u) in at.items()}
    return out
