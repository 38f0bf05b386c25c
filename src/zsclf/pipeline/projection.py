"""Projections from the CNN's outputs into a label-embedding space.

ConSE (Norouzi et al. 2013) is the training-free default: the softmax-weighted mix of the
top-T ImageNet-1K classes' label embeddings. Every projection maps (features, logits) to
L2-normalised query vectors in the space the index lives in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import numpy as np

from ..core.vectors import normalize, softmax
from ..index.meta import VISUAL_TRANSFORMS

if TYPE_CHECKING:
    from .projection_file import ProjectionMeta

DEFAULT_TOP_T = 10


class Projection(Protocol):
    """Maps CNN outputs to normalised vectors in an index's space."""

    name: str
    space: str
    dim: int

    def project(self, features: np.ndarray, logits: np.ndarray) -> np.ndarray:
        """[N, dim] L2-normalised query vectors."""
        ...


class ConSE:
    """Convex combination of the top-T seen-class label embeddings, weighted by the CNN's softmax.

    `temperature` > 1 flattens the softmax (logits / temperature) so that more classes count: for
    retrieval of photos by sentences, top-50 at temperature 2 beats the classifier's top-10 at 1
    (docs/retrieval.md)."""

    name = "conse"
    space = "text"

    def __init__(self, seen_embeddings: np.ndarray, top_t: int = DEFAULT_TOP_T, temperature: float = 1.0) -> None:
        if top_t < 1:
            raise ValueError("top_t must be at least 1")
        if not temperature > 0:
            raise ValueError("temperature must be positive")
        self.seen = np.ascontiguousarray(seen_embeddings, dtype=np.float32)
        self.top_t = min(top_t, len(self.seen))
        self.temperature = float(temperature)
        self.dim = self.seen.shape[1]

    def project(self, features: np.ndarray, logits: np.ndarray) -> np.ndarray:
        probs = softmax(logits if self.temperature == 1.0 else np.asarray(logits, np.float32) / self.temperature)
        n = len(probs)
        if self.top_t < probs.shape[1]:
            top = np.argpartition(-probs, self.top_t - 1, axis=1)[:, :self.top_t]
        else:
            top = np.broadcast_to(np.arange(probs.shape[1]), (n, probs.shape[1]))
        weights = np.take_along_axis(probs, top, axis=1)
        mixed = np.einsum("nt,ntd->nd", weights, self.seen[top])
        return normalize(mixed)


class LinearProjection:
    """DeViSE: normalise(M . normalise(features)), a learned linear map into the text space."""

    name = "devise"
    space = "text"

    def __init__(self, matrix: np.ndarray, meta: ProjectionMeta | None = None, sha256: str = "") -> None:
        self.matrix = np.ascontiguousarray(matrix, dtype=np.float32)
        self.dim = self.matrix.shape[0]
        self.meta = meta  # how it was trained (from the file); None for an in-memory map
        self.sha256 = sha256  # of the file it was read from

    def project(self, features: np.ndarray, logits: np.ndarray) -> np.ndarray:
        return normalize(normalize(features) @ self.matrix.T)


class ResidualConSE:
    """ConSE plus a residual learned from image-sentence pairs (`zsclf train --pairs`):
    normalise(ConSE(logits) + W . normalise(normalise(features) - mean)), trained with the
    bidirectional hinge rank loss (Kiros et al. 2014; Karpathy & Fei-Fei 2015), W starting at 0."""

    name = "pairs"
    space = "text"

    def __init__(self, conse: ConSE, matrix: np.ndarray, feature_mean: np.ndarray, meta: ProjectionMeta | None = None,
                 sha256: str = "") -> None:
        self.conse = conse
        self.matrix = np.ascontiguousarray(matrix, dtype=np.float32)
        self.mean = np.asarray(feature_mean, dtype=np.float32)
        self.dim = self.matrix.shape[0]
        self.meta = meta
        self.sha256 = sha256

    def project(self, features: np.ndarray, logits: np.ndarray) -> np.ndarray:
        x = normalize(normalize(features) - self.mean)
        return normalize(self.conse.project(features, logits) + x @ self.matrix.T)


class VisualProjection:
    """The visual space (DEM): queries are the CNN's pooled features, transformed and L2-normalised.

    * "centre": minus the expected feature; makes photo prototypes and classifier rows (or
      text labels mapped onto them) comparable, so indexes with text labels use it;
    * "sqrt": power normalisation (square root of the non-negative ReLU6 features); best for
      indexes of photo prototypes only (5-shot flowers: 90.5% vs 88.9% centred, 5 seeds).
    """

    name = "visual"
    space = "visual"

    def __init__(self, feature_mean: np.ndarray, transform: str = "centre") -> None:
        if transform not in VISUAL_TRANSFORMS:
            raise ValueError(f"unknown visual transform {transform!r}")
        self.mean = np.asarray(feature_mean, dtype=np.float32)
        self.transform = transform
        self.dim = len(self.mean)

    def project(self, features: np.ndarray, logits: np.ndarray) -> np.ndarray:
        if self.transform == "sqrt":
            return normalize(np.sqrt(np.maximum(features, 0.0)))
        return normalize(features - self.mean)


class Calibrated:
    """Appends a constant 1 to every query, so that an index of calibrated label vectors
    [v_j / s_j, -m_j / s_j] scores (cos(q, v_j) - m_j) / s_j with one inner product."""

    def __init__(self, base: Projection) -> None:
        self.base = base
        self.name = base.name
        self.space = base.space
        self.dim = base.dim + 1

    def project(self, features: np.ndarray, logits: np.ndarray) -> np.ndarray:
        q = self.base.project(features, logits)
        return np.hstack([q, np.ones((len(q), 1), dtype=np.float32)])
