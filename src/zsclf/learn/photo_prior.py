"""Typical photos for hubness correction, without photos: the CNN's top-50 logits of 1,000 everyday
photos (`labels/photo_prior.tsv`, made by tools/make_photo_prior.py from ImageNet-1K validation photos).

A sentence index (learn.sentence_index) scores each sentence s for a photo q as
cos(q, s) - log Σ_r exp(β cos(r, s)) / β over these reference photos r (the inverted softmax of Smith
et al. 2017 with a fixed reference, so one photo's answer never depends on the other photos of a run):
a "hub" sentence, close to every photo, is pushed down. ConSE needs only a photo's top-t logits, so
the references are exact for top-t <= 50.
"""

from __future__ import annotations

import numpy as np

from ..core import paths
from ..data.tables import read_table
from ..errors import ZsclfError
from ..pipeline.projection import ConSE

PRIOR_TOP = 50
PRIOR_FILE = "photo_prior.tsv"


def prior_logits(num_classes: int = 1000) -> np.ndarray:
    """[photos, num_classes] logits of the reference photos: their top 50 as recorded, -1e4 elsewhere."""
    path = paths.labels_dir() / PRIOR_FILE
    if not path.exists():  # a ZSCLF_LABELS folder of the user's own label files: the installed copy
        path = paths.PACKAGED_LABELS / PRIOR_FILE
    rows = [cells for _, cells in read_table(path, "photo prior") if cells and not cells[0].startswith("#")][1:]
    logits = np.full((len(rows), num_classes), -1e4, dtype=np.float32)
    try:
        for i, (_, classes, values) in enumerate(rows):
            logits[i, np.array(classes.split(), dtype=np.int64)] = np.array(values.split(), dtype=np.float32)
    except (ValueError, IndexError) as exc:
        raise ZsclfError(f"{path}: damaged photo prior ({exc}); re-install zsclf") from None
    if not len(rows):
        raise ZsclfError(f"{path}: the photo prior holds no photos; re-install zsclf")
    return logits


def prior_queries(conse: ConSE) -> np.ndarray:
    """The reference photos as ConSE query vectors (exact for top-t <= 50)."""
    if conse.top_t > PRIOR_TOP:
        raise ZsclfError(f"the photo prior keeps each photo's top {PRIOR_TOP} classes: top-t {conse.top_t} is too many")
    logits = prior_logits(len(conse.seen))
    return conse.project(np.zeros((len(logits), 0), np.float32), logits)
