"""Label-prior (hubness) corrections for label indexes (issue 17; measured in docs/label_prior.md).

Some label vectors sit close to the ConSE query of almost any photo ("hubs": Dinu et al. 2015; Zhang,
Xiang & Gong 2017), so a short list of the user's own labels gets skewed answers. Every correction here
is per-label affine, score(q, v) = scale_v cos(q, v) - offset_v, fitted on reference queries r (the
shipped photo prior of learn.photo_prior, or the user's reference photos): the index stores the rows
[v * scale_v, -offset_v] and a query with a 1 appended (pipeline.projection.Calibrated) gets the
corrected score from the same inner-product search.

Methods (C[r, v] = cos(r, v)):
* ``inverted_softmax``: offset = (1/β) log mean_r exp(β C)  (Smith et al. 2017; the sentence index's)
* ``zscore``: offset = mean_r C / std_r C, scale = 1 / std_r C
* ``mean``: offset = mean_r C
* ``csls``: offset = r_Q(v) / 2, the mean of v's k most similar references (Lample, Conneau et al. 2018)
* ``label_softmax``: offset = τ log mean_r softmax_v(C[r] / τ): the share of typical photos each label
  takes over this label set; dividing it out is "calibrate before use" (Zhao et al. 2021).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..core.hubness import inverted_softmax_normaliser, knn_mean_similarity
from ..core.vectors import normalize
from ..errors import ZsclfError
from ..index.meta import QueryConSE

METHODS = ("inverted_softmax", "zscore", "mean", "csls", "label_softmax")
DEFAULT_METHOD = "inverted_softmax"
DEFAULTS: dict[str, dict[str, float]] = {"inverted_softmax": {"beta": 20.0}, "csls": {"k": 10},
                                         "label_softmax": {"tau": 0.05}}
# ConSE of corrected label indexes (and of the reference queries that fit them): top-50 at T=2 like sentence
# indexes, but the seen classes MUST be embedded with the labels' own (effective) template: with glosses for plain
# names (the sentence index's queries) the correction lost flowers12 0.02 hit@1 (docs/label_prior.md)
LABEL_PRIOR_QUERIES = QueryConSE(top_t=50, temperature=2.0, template="name")
# the default rule: leave a label set plain when the correction would outweigh what a photo says about the labels
# (spread of the offsets over the labels > MAX_DOMINANCE x a reference photo's spread of cosines over the labels)
MAX_DOMINANCE = 2.0
MIN_LABELS = 2
CHUNK = 1024


def label_prior_queries(template: str) -> QueryConSE:
    """The QueryConSE a corrected label index records: LABEL_PRIOR_QUERIES with the labels' effective template."""
    return replace(LABEL_PRIOR_QUERIES, template=template)


def _column_moments(vectors: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """[n] mean and std over the reference queries of cos(r, v), in chunks of labels."""
    mean = np.empty(len(vectors), np.float64)
    std = np.empty(len(vectors), np.float64)
    for start in range(0, len(vectors), CHUNK):
        c = (reference @ vectors[start:start + CHUNK].T).astype(np.float64)
        mean[start:start + CHUNK] = c.mean(axis=0)
        std[start:start + CHUNK] = c.std(axis=0)
    return mean, std


def label_marginal(vectors: np.ndarray, reference: np.ndarray, tau: float) -> np.ndarray:
    """[n] mean over the reference queries of softmax_v(cos(r, v) / τ): each label's share of typical photos."""
    total = np.zeros(len(vectors), np.float64)
    for start in range(0, len(reference), CHUNK):
        z = (reference[start:start + CHUNK] @ vectors.T).astype(np.float64) / tau
        z = np.exp(z - z.max(axis=1, keepdims=True))
        total += (z / z.sum(axis=1, keepdims=True)).sum(axis=0)
    return total / len(reference)


def label_offsets(vectors: np.ndarray, reference_queries: np.ndarray, method: str = DEFAULT_METHOD,
                  **params: float) -> tuple[np.ndarray, np.ndarray, str]:
    """[n] scale and offset of each (normalised) label vector for `method`, and a one-line description."""
    if method not in METHODS:
        raise ZsclfError(f"label prior method {method!r} is unknown: use one of {', '.join(METHODS)}")
    unknown = set(params) - set(DEFAULTS.get(method, {}))
    if unknown:
        raise ZsclfError(f"label prior method {method} takes no parameter {sorted(unknown)[0]!r}")
    p = {**DEFAULTS.get(method, {}), **params}
    v = normalize(np.asarray(vectors, np.float32))
    r = normalize(np.asarray(reference_queries, np.float32))
    if len(r) < 1 or len(v) < 1:
        raise ZsclfError("a label prior needs at least one label and one reference photo")
    scale = np.ones(len(v), np.float64)
    if method == "inverted_softmax":
        offset = (inverted_softmax_normaliser(v, r, p["beta"]) - np.log(len(r))) / p["beta"]
        what = f"inverted softmax (β={p['beta']:g})"
    elif method in ("zscore", "mean"):
        mean, std = _column_moments(v, r)
        if method == "mean":
            offset, what = mean, "mean cosine subtracted"
        else:
            scale = 1.0 / np.maximum(std, 1e-6)
            offset, what = mean * scale, "z-score"
    elif method == "csls":
        offset = knn_mean_similarity(v, r, int(p["k"])).astype(np.float64) / 2.0
        what = f"CSLS (k={int(p['k'])})"
    else:
        offset = p["tau"] * np.log(np.maximum(label_marginal(v, r, p["tau"]), 1e-300))
        what = f"label-softmax prior (τ={p['tau']:g})"
    return scale, offset, f"{what} against {len(r)} reference photos"


def label_prior_rows(vectors: np.ndarray, reference_queries: np.ndarray, method: str = DEFAULT_METHOD,
                     **params: float) -> tuple[np.ndarray, str]:
    """[n, d+1] float32 rows [v * scale, -offset] for normalised v (score = scale cos(q, v) - offset for a
    query [q, 1]), and a one-line description of the correction."""
    scale, offset, what = label_offsets(vectors, reference_queries, method, **params)
    v = normalize(np.asarray(vectors, np.float32))
    rows = np.hstack([v * scale[:, None], -offset[:, None]]).astype(np.float32)
    return rows, what


def mean_pairwise_cosine(vectors: np.ndarray) -> float:
    """Mean cosine over all pairs of distinct labels (O(n d): |Σv|² = n + Σ_{i≠j} cos)."""
    v = normalize(np.asarray(vectors, np.float64))
    n = len(v)
    if n < 2:
        return 1.0
    total = float(np.square(v.sum(axis=0)).sum())
    return (total - n) / (n * (n - 1))


def prior_answer_skew(vectors: np.ndarray, reference_queries: np.ndarray) -> float:
    """Largest share of the reference photos answered with one label, times the number of labels (1 = even)."""
    v = normalize(np.asarray(vectors, np.float32))
    r = normalize(np.asarray(reference_queries, np.float32))
    answers = np.concatenate([(r[s:s + CHUNK] @ v.T).argmax(axis=1) for s in range(0, len(r), CHUNK)])
    return float(np.bincount(answers, minlength=len(v)).max() / len(r) * len(v))


def label_spread(vectors: np.ndarray, reference_queries: np.ndarray) -> float:
    """Mean over the reference photos of the std of cos(r, v) over the labels: how much a photo separates them."""
    v = normalize(np.asarray(vectors, np.float32))
    r = normalize(np.asarray(reference_queries, np.float32))
    return float(np.mean(np.concatenate([(r[s:s + CHUNK] @ v.T).std(axis=1) for s in range(0, len(r), CHUNK)])))


def dominance(vectors: np.ndarray, reference_queries: np.ndarray, method: str = DEFAULT_METHOD) -> float:
    """std over the labels of the correction (offset / scale, in cosine units) over label_spread: the larger, the
    more the correction rather than the photo decides which label wins (measured label sets: 0.35-1.62)."""
    scale, offset, _ = label_offsets(vectors, reference_queries, method)
    return float(np.std(offset / scale) / max(label_spread(vectors, reference_queries), 1e-9))


def label_statistics(vectors: np.ndarray, reference_queries: np.ndarray) -> dict[str, float]:
    """What the default rule can observe at build time, without the user's photos."""
    return {"mean_cos": mean_pairwise_cosine(vectors), "prior_skew": prior_answer_skew(vectors, reference_queries),
            "dominance": dominance(vectors, reference_queries)}


def default_correction(vectors: np.ndarray, reference_queries: np.ndarray) -> tuple[str | None, str]:
    """The correction the default rule picks for this label set (None: leave it plain) and why. `reference_queries`:
    the prior's (or the user's reference photos') queries made as LABEL_PRIOR_QUERIES says, in the labels' template."""
    n = len(vectors)
    if n < MIN_LABELS:
        return None, f"{n} label(s): nothing to correct"
    ratio = dominance(vectors, reference_queries)
    if ratio > MAX_DOMINANCE:
        return None, (f"the {DEFAULT_METHOD} correction would outweigh the photos ({ratio:.2f} x a typical photo's "
                      f"spread over the labels > {MAX_DOMINANCE:g}): left plain")
    return DEFAULT_METHOD, (f"{DEFAULT_METHOD} against {len(reference_queries)} reference photos (correction "
                            f"{ratio:.2f} x a typical photo's spread over the labels <= {MAX_DOMINANCE:g})")
