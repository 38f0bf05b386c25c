"""Calibrated stacking (Chao, Changpinyo, Gong & Sha, ECCV 2016): a seen-class penalty gamma subtracted
from the scores of the index labels that are the CNN's own classes before ranking (`--seen-penalty`).

gamma = 0 is the plain ranking; gamma -> +inf never answers a seen class (`--exclude-seen`); a negative
gamma favours them. The stacked top-k is exact, from two searches: the k best seen labels (scored
directly: ~1,000 rows) and the k best of the others (FAISS with the seen rows excluded).
"""

from __future__ import annotations

import numpy as np

from ..index.label_index import LabelIndex, SearchResult


def merge_stacked(seen_scores: np.ndarray, seen_rows: np.ndarray, other_scores: np.ndarray,
                  other_rows: np.ndarray, gamma: float, k: int) -> SearchResult:
    """The stacked top-k from the top-k of the seen labels and the top-k of the others: scores after the
    penalty (seen labels' minus gamma), best first; rows < 0 (no result) go last."""
    scores = np.hstack([np.asarray(seen_scores, dtype=np.float64) - gamma, other_scores])
    rows = np.hstack([seen_rows, other_rows])
    scores = np.where(rows >= 0, scores, -np.inf)
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return SearchResult(np.take_along_axis(scores, order, axis=1).astype(np.float32),
                        np.take_along_axis(rows, order, axis=1))


class SeenVectors:
    """The seen labels' vectors of an index, for scoring them directly (made once per classifier)."""

    def __init__(self, index: LabelIndex, seen_rows: np.ndarray) -> None:
        self.rows = np.asarray(seen_rows, dtype=np.int64)
        self.vectors = np.stack([index.faiss_index.reconstruct(int(r)) for r in self.rows]) if len(self.rows) else \
            np.zeros((0, index.dim), dtype=np.float32)

    def top(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores [B, k], rows [B, k]) of the k best seen labels per query (-inf / -1 padding)."""
        b = len(queries)
        if len(self.rows) == 0:
            return np.full((b, k), -np.inf, dtype=np.float32), np.full((b, k), -1, dtype=np.int64)
        scores = np.asarray(queries, dtype=np.float32) @ self.vectors.T
        kk = min(k, len(self.rows))
        top = np.argpartition(-scores, kk - 1, axis=1)[:, :kk]
        out_scores = np.full((b, k), -np.inf, dtype=np.float32)
        out_rows = np.full((b, k), -1, dtype=np.int64)
        out_scores[:, :kk] = np.take_along_axis(scores, top, axis=1)
        out_rows[:, :kk] = self.rows[top]
        return out_scores, out_rows


def stacked_search(index: LabelIndex, seen: SeenVectors, queries: np.ndarray, k: int, gamma: float) -> SearchResult:
    """Top-k labels by score minus gamma for seen labels (exact)."""
    other = index.search(queries, k, seen.rows if len(seen.rows) else None)
    seen_scores, seen_rows = seen.top(queries, k)
    return merge_stacked(seen_scores, seen_rows, other.scores, other.rows, gamma, k)
