"""PROVISIONAL (replaced by the research branch): per-label z-score against reference queries."""

from __future__ import annotations

import numpy as np

METHODS = ("zscore",)
DEFAULT_METHOD = "zscore"


def label_prior_rows(vectors: np.ndarray, reference_queries: np.ndarray, method: str = DEFAULT_METHOD,
                     **params) -> tuple[np.ndarray, str]:
    cos = reference_queries @ vectors.T
    mean, std = cos.mean(axis=0), cos.std(axis=0) + 1e-6
    rows = np.hstack([vectors / std[:, None], -(mean / std)[:, None]]).astype(np.float32)
    return rows, f"z-score of each label's cosine against {len(reference_queries)} reference photos"


def default_correction(vectors: np.ndarray, reference_queries: np.ndarray) -> tuple[str | None, str]:
    return DEFAULT_METHOD, "provisional"
