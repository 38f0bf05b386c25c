"""Projections from the CNN's outputs into a label-embedding space.

ConSE (Norouzi et al. 2013) is the training-free default: the softmax-weighted mix of the
top-T ImageNet-1K classes' label embeddings. Every projection maps (features, logits) to
L2-normalised query vectors in the space the index lives in.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import numpy as np

from . import paths
from .atomic import atomic_file
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
    try:
        with atomic_file(path) as fh:
            np.save(fh, matrix)
    except OSError:  # a read-only cache only costs the next run the same work
        pass
    return matrix


class LinearProjection:
    """DeViSE: normalise(M . normalise(features)), a learned linear map into the text space."""

    name = "devise"
    space = "text"

    def __init__(self, matrix: np.ndarray, meta: dict | None = None) -> None:
        self.matrix = np.ascontiguousarray(matrix, dtype=np.float32)
        self.dim = self.matrix.shape[0]
        self.meta = meta or {}

    def project(self, features: np.ndarray, logits: np.ndarray) -> np.ndarray:
        return normalize(normalize(features) @ self.matrix.T)


VISUAL_TRANSFORMS = ("centre", "sqrt")


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


def save_projection(path: str | Path, matrix: np.ndarray, meta: dict) -> Path:
    """Write a learned projection (matrix + JSON metadata) atomically as .npz."""
    import json

    path = Path(path)
    with atomic_file(path) as fh:
        np.savez(fh, matrix=matrix.astype(np.float32), meta=np.array(json.dumps(meta)))
    return path


def load_projection(path: str | Path) -> LinearProjection:
    """Read a projection written by `zsclf train` (raises ZsclfError when unreadable)."""
    import json

    from .errors import ZsclfError

    try:
        with np.load(path, allow_pickle=False) as data:
            matrix, meta = data["matrix"], json.loads(str(data["meta"]))
    except FileNotFoundError:
        raise ZsclfError(f"{path}: no such projection file") from None
    except (OSError, ValueError, KeyError) as exc:
        raise ZsclfError(f"{path}: not a zsclf projection ({exc})") from None
    if meta.get("kind") != "devise" or matrix.ndim != 2:
        raise ZsclfError(f"{path}: not a zsclf DeViSE projection")
    from .manifest import sha256_file

    meta["sha256"] = sha256_file(Path(path))
    return LinearProjection(matrix, meta)


def check_projection(projection: LinearProjection, image_sha256: str, index_meta: dict, source: str) -> None:
    """Refuse a projection trained for another image encoder, text encoder, template or dimension."""
    from .errors import ZsclfError

    meta = projection.meta
    if meta["image_encoder"]["sha256"] != image_sha256:
        raise ZsclfError(f"projection {source} was trained on image encoder {meta['image_encoder']['name']} "
                         f"(sha256 {meta['image_encoder']['sha256'][:12]}), not the one in use: retrain it")
    if index_meta.get("space") != "text":
        raise ZsclfError(f"projection {source} maps into the text space; the index is in the "
                         f"{index_meta.get('space')} space")
    built = index_meta["text_encoder"]
    if meta["text_encoder"]["sha256"] != built["sha256"] or meta["template"] != index_meta.get("template"):
        raise ZsclfError(f"projection {source} targets {meta['text_encoder']['name']} embeddings with template "
                         f"{meta['template']!r}; the index has {built['name']} with {index_meta.get('template')!r}: "
                         "rebuild the index or retrain the projection")
    if projection.dim != built.get("dim", projection.dim):
        raise ZsclfError(f"projection {source} gives {projection.dim}-d vectors, the index holds {built['dim']}-d")
