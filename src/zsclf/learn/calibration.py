"""Putting labels taught in different ways on one scale, and measuring approximate search.

Calibration: when text-taught and photo-taught labels share an index, every label vector v_j is
z-scored against a reference set R of queries (the example photos plus 1,000 seen-class
pseudo-queries): the index stores [v_j / s_j, -m_j / s_j], where m_j, s_j are the mean and
spread of R.v_j, and queries get a 1 appended. A score is then "how many standard deviations
above a typical image" for every label, whichever way it was taught; this also damps hubs.
"""

from __future__ import annotations

import numpy as np

from ..core.vectors import normalize
from ..index.label_index import LabelIndex
from ..index.meta import Calibration


def calibrate(vectors: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, Calibration]:
    """[v / s, -m / s] per label, m and s being the mean and spread of reference . v (see module doc)."""
    scores = normalize(reference) @ vectors.T
    mean, spread = scores.mean(axis=0), scores.std(axis=0) + 1e-6
    calibrated = np.hstack([vectors / spread[:, None], (-mean / spread)[:, None]]).astype(np.float32)
    return calibrated, Calibration("per-label z-score", len(reference))


def hnsw_recall(index: LabelIndex, exact: LabelIndex, k: int = 10, queries: int = 500, seed: int = 0) -> float:
    """Recall@k of an approximate index against the exact one, on queries mixed from pairs of labels."""
    rng = np.random.default_rng(seed)
    vectors = exact.vectors()
    pairs = rng.integers(0, len(vectors), size=(queries, 2))
    weights = rng.uniform(0.3, 0.7, size=(queries, 1)).astype(np.float32)
    q = weights * vectors[pairs[:, 0]] + (1 - weights) * vectors[pairs[:, 1]]
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    truth = exact.search(q, k).rows
    found = index.search(q, k).rows
    hits = sum(len(set(t) & set(f)) for t, f in zip(truth, found, strict=True))
    return hits / truth.size
