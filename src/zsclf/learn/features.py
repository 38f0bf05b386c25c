"""CNN features and logits for many images, cached by file content and model.

Training, photo-taught labels and the visual space all start from the encoder's outputs; the
cache (`models/cache/features/<model sha>/<content sha>.npy`) makes re-training fast. Images
not in the cache go through the pipeline's one encode loop.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core import paths
from ..core.fsio import atomic_file, open_regular, os_reason
from ..models.image_encoder import ImageEncoder
from ..pipeline.encoding import encode_stream


@dataclass
class Encoded:
    """Features [n, F] and logits [n, C] for the inputs that decoded; errors by input position."""

    features: np.ndarray
    logits: np.ndarray
    ok: list[int]
    errors: dict[int, str]


def content_key(path: str) -> str:
    """sha256 of the file's bytes (renames and copies hit the same cache entry)."""
    import hashlib

    digest = hashlib.sha256()
    with open_regular(path) as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class FeatureCache:
    """One .npy per (model, image content): features and logits concatenated."""

    def __init__(self, encoder: ImageEncoder, root: Path | None = None) -> None:
        self.width = encoder.feature_dim + encoder.num_classes
        self.root = (root or paths.cache_dir() / "features") / encoder.spec.sha256[:16]

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.npy"

    def get(self, key: str) -> np.ndarray | None:
        """The cached row, or None (also for a damaged entry, which is then simply recomputed)."""
        try:
            with open_regular(self._path(key)) as fh:
                row = np.load(fh, allow_pickle=False)
        except (OSError, ValueError, EOFError):
            return None
        return row if row.shape == (self.width,) and np.isfinite(row).all() else None

    def put(self, key: str, row: np.ndarray) -> None:
        try:
            with atomic_file(self._path(key)) as fh:
                np.save(fh, row.astype(np.float32))
        except OSError:  # a read-only cache only costs the next run the same work
            pass


def encode_images(encoder: ImageEncoder, image_paths: Sequence[str], batch_size: int = 32, cache: bool = True,
                  progress: Callable[[int], None] | None = None) -> Encoded:
    """Features and logits for every readable image, from the cache where possible."""
    store = FeatureCache(encoder) if cache else None
    rows: dict[int, np.ndarray] = {}
    errors: dict[int, str] = {}
    todo: list[int] = []
    keys: dict[int, str] = {}
    for i, p in enumerate(image_paths):
        try:
            keys[i] = content_key(p) if store else ""
        except OSError as exc:
            errors[i] = f"{p}: {os_reason(exc)}"
            continue
        cached = store.get(keys[i]) if store else None
        if cached is not None:
            rows[i] = cached
        else:
            todo.append(i)
    if progress and rows:
        progress(len(rows))
    position = 0
    for batch in encode_stream(encoder, [image_paths[i] for i in todo], batch_size):
        idx = todo[position:position + len(batch.paths)]
        position += len(batch.paths)
        errors.update({i: str(e) for i, e in zip(idx, batch.errors, strict=True) if e is not None})
        for j, f, lg in zip(batch.ok, batch.features if batch.features is not None else [],
                            batch.logits if batch.logits is not None else [], strict=True):
            rows[idx[j]] = np.concatenate([f, lg])
            if store:
                store.put(keys[idx[j]], rows[idx[j]])
        if progress:
            progress(len(batch.paths))
    ok = sorted(rows)
    width = encoder.feature_dim + encoder.num_classes
    stacked = np.stack([rows[i] for i in ok]) if ok else np.zeros((0, width), np.float32)
    return Encoded(stacked[:, :encoder.feature_dim], stacked[:, encoder.feature_dim:], ok, errors)
