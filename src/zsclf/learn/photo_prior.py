"""Typical photos for hubness correction, without photos: the CNN's top-50 logits of 1,000 everyday
photos (`labels/photo_prior.tsv`, made by tools/make_photo_prior.py from ImageNet-1K validation photos).

A sentence index (learn.sentence_index) scores each sentence s for a photo q as
cos(q, s) - log Σ_r exp(β cos(r, s)) / β over these reference photos r (the inverted softmax of Smith
et al. 2017 with a fixed reference, so one photo's answer never depends on the other photos of a run):
a "hub" sentence, close to every photo, is pushed down. ConSE needs only a photo's top-t logits, so
the references are exact for top-t <= 50.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..core import paths
from ..data.tables import read_table
from ..errors import ZsclfError
from ..models.registry import ModelSpec
from ..pipeline.projection import ConSE, Projection

PRIOR_TOP = 50
PRIOR_FILE = "photo_prior.tsv"


def weights_sha256(spec: ModelSpec) -> str:
    """What identifies an image model's logits on every machine: the sha256 of the weights it was exported from.
    The exported ONNX bytes are not it: torch folds batch norms with the CPU's own float kernels, so two machines'
    exports of the same weights differ in the last bits (measured: their logits within 0.0005, the prior's rounding)."""
    return str((spec.entry.source or {}).get("weights_sha256") or spec.sha256)


def prior_logits(weights: str, num_classes: int = 1000) -> np.ndarray:
    """[photos, num_classes] logits of the reference photos: their top 50 as recorded, -1e4 elsewhere.
    They are one CNN's logits: refused for an image model exported from other weights (`weights`: their
    sha256, see weights_sha256)."""
    path = paths.labels_dir() / PRIOR_FILE
    if not path.exists():  # a ZSCLF_LABELS folder of the user's own label files: the installed copy
        path = paths.PACKAGED_LABELS / PRIOR_FILE
    table = read_table(path, "photo prior")
    made_with = re.search(r"weights sha256 ([0-9a-f]{16})", table[0][1][0] if table else "")
    if made_with is None:
        raise ZsclfError(f"{path}: the photo prior does not say which image model made it; re-install zsclf")
    if not weights.startswith(made_with.group(1)):
        raise ZsclfError(f"the shipped photo prior holds the logits of another image model (weights sha256 "
                         f"{made_with.group(1)}, not {weights[:16]}): give --reference-photos")
    rows = [cells for _, cells in table if cells and not cells[0].startswith("#")][1:]
    logits = np.full((len(rows), num_classes), -1e4, dtype=np.float32)
    try:
        for i, (_, classes, values) in enumerate(rows):
            logits[i, np.array(classes.split(), dtype=np.int64)] = np.array(values.split(), dtype=np.float32)
    except (ValueError, IndexError) as exc:
        raise ZsclfError(f"{path}: damaged photo prior ({exc}); re-install zsclf") from None
    if not len(rows):
        raise ZsclfError(f"{path}: the photo prior holds no photos; re-install zsclf")
    return logits


def logit_queries(conse: ConSE, logits: np.ndarray) -> np.ndarray:
    """ConSE query vectors from the CNN's logits alone (ConSE does not use the features)."""
    return conse.project(np.zeros((len(logits), 0), np.float32), logits)


@dataclass(frozen=True)
class ReferencePhotos:
    """The user's reference photos (`--reference-photos`) as the image model saw them."""

    features: np.ndarray
    logits: np.ndarray
    what: str  # where they came from, for the index's metadata


def typical_queries(make: Callable[[], Projection], image: ModelSpec,
                    reference: ReferencePhotos | None) -> tuple[np.ndarray, str]:
    """Query vectors of typical photos, made by `make()` (the query maker the index will get), and what they were:
    the user's reference photos, else the shipped prior (logits of `image`'s weights; none for a joint image tower).
    Whether the prior fits is checked before the query maker is made (it may have thousands of classes to embed)."""
    if reference is not None:
        return make().project(reference.features, reference.logits), reference.what
    if image.is_joint:
        raise ZsclfError(f"the shipped photo prior holds a CNN's logits and image model {image.name} gives none: "
                         "give --reference-photos")
    logits = prior_logits(weights_sha256(image), image.output_dim("logits"))
    conse = make()  # an image classifier's: ConSE
    assert isinstance(conse, ConSE)
    if conse.top_t > PRIOR_TOP:
        raise ZsclfError(f"the photo prior keeps each photo's top {PRIOR_TOP} classes: top-t {conse.top_t} is too many")
    return logit_queries(conse, logits), f"the photo prior ({len(logits)} everyday photos)"
