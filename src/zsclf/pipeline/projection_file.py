"""Projection files (`zsclf train -o proj.npz`): the matrix plus typed JSON metadata in one .npz.

Two kinds: "devise" (a linear map of the features, from labelled photos) and "pairs" (a residual
added to ConSE, from image-sentence pairs: also holds the feature mean and ConSE's top-t and
temperature)."""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core import typed_json
from ..core.fsio import atomic_file, open_regular, os_reason
from ..errors import ZsclfError
from ..models.registry import ModelRef, sha256_file
from .projection import LinearProjection, ResidualConSE


@dataclass(frozen=True)
class ProjectionMeta:
    """What a projection file records: which encoders and template it maps between, and its training."""

    kind: str = field(metadata={"choices": ("devise", "pairs")})
    space: str = field(metadata={"choices": ("text",)})
    template: str
    image_encoder: ModelRef
    text_encoder: ModelRef
    zsclf_version: str = ""
    created: str = ""
    trained_on: dict | None = None
    hyper_parameters: dict | None = None
    best_epoch: int | None = None
    validation: dict | None = None
    train_size: int | None = None
    val_size: int | None = None
    history: list | None = None
    top_t: int | None = None  # "pairs": the ConSE the residual is added to
    temperature: float | None = None


def save_projection(path: str | Path, matrix: np.ndarray, meta: ProjectionMeta,
                    feature_mean: np.ndarray | None = None) -> Path:
    """Write a learned projection (matrix [+ feature mean] + JSON metadata) atomically as .npz."""
    if not np.isfinite(matrix).all():
        raise ZsclfError(f"{path}: the learned projection contains NaN or infinity (diverged?); nothing was written")
    path = Path(path)
    extra = {} if feature_mean is None else {"feature_mean": np.asarray(feature_mean, np.float32)}
    try:
        with atomic_file(path) as fh:
            np.savez(fh, matrix=matrix.astype(np.float32), meta=np.array(json.dumps(typed_json.dump(meta))),
                     **extra)
    except OSError as exc:
        raise ZsclfError(f"{path}: cannot write the projection: {os_reason(exc)}; nothing was written") from None
    return path


def load_projection(path: str | Path) -> LinearProjection | ResidualConSE:
    """Read a projection written by `zsclf train` (raises ZsclfError when unreadable or not one)."""
    path = Path(path)
    try:
        with open_regular(path) as fh, np.load(fh, allow_pickle=False) as data:
            matrix, raw = data["matrix"], json.loads(str(data["meta"]))
            mean = data["feature_mean"] if "feature_mean" in data.files else None
    except OSError as exc:
        raise ZsclfError(f"{path}: cannot read projection: {os_reason(exc)}") from None
    except (ValueError, KeyError, EOFError, RecursionError, zipfile.BadZipFile) as exc:
        raise ZsclfError(f"{path}: not a zsclf projection ({type(exc).__name__}: {exc})") from None
    meta = typed_json.load(ProjectionMeta, raw, str(path))
    if matrix.ndim != 2 or matrix.dtype.kind != "f" or not np.isfinite(matrix).all():
        raise ZsclfError(f"{path}: damaged projection matrix (shape {matrix.shape}, {matrix.dtype})")
    if meta.kind == "pairs":
        return _residual(path, matrix, mean, meta)
    return LinearProjection(matrix, meta, sha256_file(path))


def _residual(path: Path, matrix: np.ndarray, mean: np.ndarray | None, meta: ProjectionMeta) -> ResidualConSE:
    """A "pairs" file: the residual on top of ConSE made with the file's text space, top-t and temperature."""
    from ..index.meta import TextSpace
    from .seen import conse_for

    if mean is None or mean.shape != (matrix.shape[1],) or not np.isfinite(mean).all() or not meta.top_t:
        raise ZsclfError(f"{path}: damaged pairs projection (feature mean or ConSE settings missing)")
    conse = conse_for(TextSpace(meta.text_encoder, meta.template), meta.top_t, meta.temperature or 1.0)
    if conse.dim != matrix.shape[0]:
        raise ZsclfError(f"{path}: the map gives {matrix.shape[0]}-d vectors, its text space is {conse.dim}-d")
    return ResidualConSE(conse, matrix, mean, meta, sha256_file(path))
