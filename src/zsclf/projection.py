"""Projections from the CNN's outputs into a label-embedding space.

ConSE (Norouzi et al. 2013) is the training-free default: the softmax-weighted mix of the
top-T ImageNet-1K classes' label embeddings. Every projection maps (features, logits) to
L2-normalised query vectors in the space the index lives in.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import numpy as np

from . import paths
from .index import normalize

DEFAULT_TOP_T = 10


class Projection(Protocol):
    """Maps CNN outputs to normalised vectors in an index's space."""

    name: str
    space: str
    dim: int

    def project(self, features: np.ndarray, logits: np.ndarray) -> np.ndarray:
        """[N, dim] L2-normalised query vectors."""
        ...


def softmax(logits: np.ndarray) -> np.ndarray:
    """Numerically stable row-wise softmax."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted, dtype=np.float32)
    return exp / exp.sum(axis=1, keepdims=True)


class ConSE:
    """Convex combination of the top-T seen-class label embeddings, weighted by the CNN's softmax."""

    name = "conse"
    space = "text"

    def __init__(self, seen_embeddings: np.ndarray, top_t: int = DEFAULT_TOP_T) -> None:
        if top_t < 1:
            raise ValueError("top_t must be at least 1")
        self.seen = np.ascontiguousarray(seen_embeddings, dtype=np.float32)
        self.top_t = min(top_t, len(self.seen))
        self.dim = self.seen.shape[1]

    def project(self, features: np.ndarray, logits: np.ndarray) -> np.ndarray:
        probs = softmax(logits)
        n = len(probs)
        if self.top_t < probs.shape[1]:
            top = np.argpartition(-probs, self.top_t - 1, axis=1)[:, :self.top_t]
        else:
            top = np.broadcast_to(np.arange(probs.shape[1]), (n, probs.shape[1]))
        weights = np.take_along_axis(probs, top, axis=1)
        mixed = np.einsum("nt,ntd->nd", weights, self.seen[top])
        return normalize(mixed)


def seen_embeddings_key(text_sha256: str, template: str, label_texts: list[str]) -> str:
    """Cache key for the seen-class matrix: text encoder, template and the exact texts embedded."""
    digest = hashlib.sha256()
    for part in (text_sha256, template, *label_texts):
        digest.update(part.encode("utf-8"))
        digest.update(b"\0")
    return digest.hexdigest()[:20]


def cached_seen_embeddings(text_sha256: str, template: str, label_texts: list[str],
                           embed: Callable[[list[str]], np.ndarray], cache: Path | None = None) -> np.ndarray:
    """The [1000, d] seen-class embedding matrix, from the cache or built with `embed` and cached.

    The cache file is named by a hash of the text encoder, template and texts, so a change to
    any of them makes a new one.
    """
    cache = cache or paths.cache_dir()
    path = cache / f"seen-{seen_embeddings_key(text_sha256, template, label_texts)}.npy"
    try:
        return np.load(path)
    except (FileNotFoundError, ValueError, OSError):
        pass
    matrix = normalize(embed(label_texts))
    cache.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=cache, suffix=".npy.tmp")
    with os.fdopen(fd, "wb") as fh:
        np.save(fh, matrix)
    os.replace(tmp, path)
    return matrix
