"""Hubness corrections for cross-modal nearest-neighbour search (numpy only; measured in docs/retrieval.md).

In high-dimensional spaces a few targets ("hubs") are the nearest neighbour of many queries
(Radovanovic et al. 2010; Dinu et al. 2015; Zhang, Xiang & Gong 2017). Both corrections below
lower the score of a target by how close it is to a *reference set of query-like vectors*; the
per-target term depends only on the targets and the reference, so it can be computed once when
the targets are indexed and stored beside them: a query then costs one extra subtraction per target.

* CSLS (Lample, Conneau et al. 2018, "Word translation without parallel data"):
      csls(q, t) = 2 cos(q, t) - r_T(q) - r_Q(t)
  r_Q(t): mean cosine of target t to its k nearest vectors in the query reference set;
  r_T(q): the same for the query against the target reference (constant per query: it changes
  scores, not the ranking of targets for one query).
* Inverted softmax (Smith et al. 2017, "Offline bilingual word vectors ..."):
      log p(t | q) = beta cos(q, t) - log sum_{q' in reference} exp(beta cos(q', t))
  i.e. each target's scores are normalised over the reference queries.

All vectors are expected L2-normalised (so inner product = cosine); every function works in
chunks so that 10,000 targets x 20,000 references stay within a few hundred MB.
"""

from __future__ import annotations

import numpy as np

from .vectors import normalize

CHUNK = 2048


def knn_mean_similarity(x: np.ndarray, reference: np.ndarray, k: int = 10, exclude_self: bool = False) -> np.ndarray:
    """[n] mean cosine of each row of x to its k most similar rows of `reference`.

    exclude_self: x *is* the reference (same rows, same order): a row is not its own neighbour.
    """
    x = np.asarray(x, dtype=np.float32)
    reference = np.asarray(reference, dtype=np.float32)
    if exclude_self and x.shape != reference.shape:
        raise ValueError("exclude_self needs x and reference to be the same matrix")
    k = min(k, len(reference) - int(exclude_self))
    if k < 1:
        raise ValueError("the reference set needs at least k=1 usable row")
    out = np.empty(len(x), dtype=np.float32)
    for start in range(0, len(x), CHUNK):
        sim = x[start:start + CHUNK] @ reference.T
        if exclude_self:
            rows = np.arange(sim.shape[0])
            sim[rows, start + rows] = -np.inf
        top = np.partition(sim, sim.shape[1] - k, axis=1)[:, -k:]
        out[start:start + CHUNK] = top.mean(axis=1)
    return out


def csls_penalty(targets: np.ndarray, query_reference: np.ndarray, k: int = 10,
                 exclude_self: bool = False) -> np.ndarray:
    """[n_targets] r_Q(t), the CSLS hub penalty of each target (precompute once per target set)."""
    return knn_mean_similarity(targets, query_reference, k, exclude_self)


def csls_scores(queries: np.ndarray, targets: np.ndarray, query_reference: np.ndarray, k: int = 10,
                target_reference: np.ndarray | None = None,
                target_penalty: np.ndarray | None = None) -> np.ndarray:
    """[n_queries, n_targets] CSLS scores, 2 cos(q, t) - r_T(q) - r_Q(t).

    query_reference: query-like vectors (same modality as the queries) defining each target's
    hubness r_Q(t). target_reference: target-like vectors for r_T(q) (default: the targets).
    target_penalty: a precomputed csls_penalty(targets, query_reference, k) (then
    query_reference is not used).
    """
    queries = np.asarray(queries, dtype=np.float32)
    targets = np.asarray(targets, dtype=np.float32)
    r_t = target_penalty if target_penalty is not None else csls_penalty(targets, query_reference, k)
    r_q = knn_mean_similarity(queries, targets if target_reference is None else target_reference, k)
    return 2.0 * (queries @ targets.T) - r_q[:, None] - np.asarray(r_t, dtype=np.float32)[None, :]


def _logsumexp_columns(a: np.ndarray) -> np.ndarray:
    top = a.max(axis=0)
    return top + np.log(np.exp(a - top[None, :]).sum(axis=0))


def inverted_softmax_normaliser(targets: np.ndarray, query_reference: np.ndarray, beta: float = 10.0) -> np.ndarray:
    """[n_targets] log sum_{q' in reference} exp(beta cos(q', t)) (precompute once per target set)."""
    targets = np.asarray(targets, dtype=np.float32)
    query_reference = np.asarray(query_reference, dtype=np.float32)
    out = np.empty(len(targets), dtype=np.float64)
    for start in range(0, len(targets), CHUNK):
        logits = beta * (query_reference @ targets[start:start + CHUNK].T).astype(np.float64)
        out[start:start + CHUNK] = _logsumexp_columns(logits)
    return out


def inverted_softmax_scores(queries: np.ndarray, targets: np.ndarray, query_reference: np.ndarray,
                            beta: float = 10.0, normaliser: np.ndarray | None = None) -> np.ndarray:
    """[n_queries, n_targets] log inverted-softmax scores beta cos(q, t) - log Z(t).

    Z(t) sums exp(beta cos(q', t)) over the query reference set (pass the same matrix as
    `queries` for the transductive version, where every query is part of the normaliser).
    """
    queries = np.asarray(queries, dtype=np.float32)
    targets = np.asarray(targets, dtype=np.float32)
    log_z = normaliser if normaliser is not None else inverted_softmax_normaliser(targets, query_reference, beta)
    return beta * (queries @ targets.T).astype(np.float64) - np.asarray(log_z, dtype=np.float64)[None, :]


def hub_occurrence(sim: np.ndarray, k: int = 10) -> np.ndarray:
    """[n_targets] k-occurrence N_k: how many queries have each target among their top k.

    Its skewness measures hubness (a few targets with very large N_k)."""
    sim = np.asarray(sim)
    k = min(k, sim.shape[1])
    top = np.argpartition(-sim, k - 1, axis=1)[:, :k]
    return np.bincount(top.ravel(), minlength=sim.shape[1])


def skewness(x: np.ndarray) -> float:
    """Sample skewness E[(x - mean)^3] / std^3 (0 for a constant vector)."""
    x = np.asarray(x, dtype=np.float64)
    sd = x.std()
    return float(((x - x.mean()) ** 3).mean() / sd ** 3) if sd > 0 else 0.0


def centre(x: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """normalize(x - mean): removes a shared direction (e.g. the mean photo or mean sentence vector)."""
    return normalize(np.asarray(x, dtype=np.float32) - np.asarray(mean, dtype=np.float32))
