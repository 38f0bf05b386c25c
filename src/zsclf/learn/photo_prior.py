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

import numpy as np

from ..core import paths
from ..data.tables import read_table
from ..errors import ZsclfError
from ..pipeline.projection import ConSE

PRIOR_TOP = 50
PRIOR_FILE = "photo_prior.tsv"


def prior_logits(image_sha256: str, num_classes: int = 1000) -> np.ndarray:
    """[photos, num_classes] logits of the reference photos: their top 50 as recorded, -1e4 elsewhere.
    They are one CNN's logits: refused for an image model with another sha256."""
    path = paths.labels_dir() / PRIOR_FILE
    if not path.exists():  # a ZSCLF_LABELS folder of the user's own label files: the installed copy
        path = paths.PACKAGED_LABELS / PRIOR_FILE
    table = read_table(path, "photo prior")
    made_with = re.search(r"sha256 ([0-9a-f]{16})", table[0][1][0] if table else "")
    if made_with is None:
        raise ZsclfError(f"{path}: the photo prior does not say which image model made it; re-install zsclf")
    if not image_sha256.startswith(made_with.group(1)):
        raise ZsclfError(f"the shipped photo prior holds the logits of another image model (sha256 "
                         f"{made_with.group(1)}, not {image_sha256[:16]}): give --reference-photos")
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


def prior_queries(conse: ConSE, image_sha256: str) -> np.ndarray:
    """The reference photos as ConSE query vectors (exact for top-t <= 50), for the image model `image_sha256`."""
    if conse.top_t > PRIOR_TOP:
        raise ZsclfError(f"the photo prior keeps each photo's top {PRIOR_TOP} classes: top-t {conse.top_t} is too many")
    return logit_queries(conse, prior_logits(image_sha256, len(conse.seen)))


def logit_queries(conse: ConSE, logits: np.ndarray) -> np.ndarray:
    """ConSE query vectors from the CNN's logits alone (ConSE does not use the features)."""
    return conse.project(np.zeros((len(logits), 0), np.float32), logits)
