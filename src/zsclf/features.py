"""CNN features and logits for many images, cached by file content and model.

Training, photo-taught labels and the visual space all start from the encoder's outputs; the
cache (`models/cache/features/<model sha>/<content sha>.npy`) makes re-training fast.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import paths
from .atomic import atomic_file
from .device import default_threads
from .encoder import ImageEncoder
from .images import decode_batches
from .manifest import sha256_file


@dataclass
class Encoded:
    """Features [n, F] and logits [n, C] for the inputs that decoded; errors by input position."""

    features: np.ndarray
    logits: np.ndarray
    ok: list[int]
    errors: dict[int, str]


def content_key(path: str) -> str:
    """sha256 of the file's bytes (renames and copies hit the same cache entry)."""
    return sha256_file(Path(path))


class FeatureCache:
    """One .npy per (model, image content): features and logits concatenated."""

    def __init__(self, encoder: ImageEncoder, root: Path | None = None) -> None:
        self.encoder = encoder
        self.root = (root or paths.cache_dir() / "features") / encoder.spec.sha256[:16]

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.npy"

    def get(self, key: str) -> np.ndarray | None:
        try:
            return np.load(self._path(key))
        except (FileNotFoundError, ValueError, OSError):
            return None

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
    n_feat = encoder.feature_dim
    rows: dict[int, np.ndarray] = {}
    errors: dict[int, str] = {}
    todo: list[int] = []
    keys: dict[int, str] = {}
    for i, p in enumerate(image_paths):
        try:
            keys[i] = content_key(p) if store else ""
        except OSError as exc:
            errors[i] = f"{p}: {exc.strerror or exc}"
            continue
        cached = store.get(keys[i]) if store else None
        if cached is not None:
            rows[i] = cached
        else:
            todo.append(i)
    if progress and len(rows):
        progress(len(rows))
    with ThreadPoolExecutor(default_threads()) as pool:
        position = 0
        for batch in decode_batches([image_paths[i] for i in todo], encoder.preprocess, batch_size, pool):
            idx = todo[position:position + len(batch)]
            position += len(batch)
            good = [(i, arr) for i, (_, arr) in zip(idx, batch, strict=True) if isinstance(arr, np.ndarray)]
            errors.update({i: arr for i, (_, arr) in zip(idx, batch, strict=True) if isinstance(arr, str)})
            if good:
                features, logits = encoder.encode(np.stack([a for _, a in good]))
                for (i, _), f, lg in zip(good, features, logits, strict=True):
                    rows[i] = np.concatenate([f, lg])
                    if store:
                        store.put(keys[i], rows[i])
            if progress:
                progress(len(batch))
    ok = sorted(rows)
    stacked = np.stack([rows[i] for i in ok]) if ok else np.zeros((0, n_feat + encoder.num_classes), np.float32)
    return Encoded(stacked[:, :n_feat], stacked[:, n_feat:], ok, errors)
