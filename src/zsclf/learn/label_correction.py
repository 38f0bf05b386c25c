"""The label-prior (hubness) correction of a text-label index, decided and computed at build time.

A few label vectors sit close to the ConSE query of almost any photo and take most answers (hubness:
Dinu et al. 2015; Zhang, Xiang & Gong 2017). Each label's score is corrected against reference photos —
the shipped photo prior (learn.photo_prior: 1,000 everyday photos as the CNN sees them) or the user's own
(`--reference-photos`) — by a per-label affine map stored in the index ([v * scale, -offset]; queries get
a 1 appended, pipeline.projection.Calibrated), so prediction costs nothing more. Which method, and whether
at all, is decided by learn.label_prior from what the label set looks like (measured in docs/label_prior.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ZsclfError
from ..index.meta import Calibration, LabelPriorChoice, QueryConSE, TextSpace
from ..models.registry import model_spec
from ..models.text_encoder import TextEncoder
from ..pipeline.projection import Projection
from ..pipeline.queries import queries_for
from . import label_prior
from .label_prior import METHODS, default_correction, label_prior_queries, label_prior_rows
from .photo_prior import ReferencePhotos, typical_queries

LABEL_PRIORS = ("auto", "off", *METHODS)
AUTO_MAX_LABELS = 500  # auto decides for the user's own label sets (measured: 5 to 100 labels); larger ones (the
# 1K and 21K ImageNet sets) stay plain unless a method is named: their figures and hedging fits are for plain cosine


@dataclass(frozen=True)
class LabelCorrection:
    """What a text-label index stores: its rows, their Calibration (None: plain vectors), the decision, and the
    ConSE its queries must use (the one the offsets were fitted with; None: the plain top-10 at T=1)."""

    rows: np.ndarray
    calibration: Calibration | None
    choice: LabelPriorChoice | None
    queries: QueryConSE | None = None


def correction_settings() -> str:
    """Every constant the correction depends on, as text (part of the `--labels` cache key: a changed rule or
    method is a new entry, not an old vector set)."""
    return repr((AUTO_MAX_LABELS, label_prior.DEFAULT_METHOD, label_prior.DEFAULTS, label_prior.LABEL_PRIOR_QUERIES,
                 label_prior.MAX_DOMINANCE, label_prior.MIN_LABELS))


def check_label_prior(mode: str) -> str:
    """`mode` if it is auto, off or a method name, else one clear error."""
    if mode not in LABEL_PRIORS:
        raise ZsclfError(f"--label-prior must be one of {', '.join(LABEL_PRIORS)}, not {mode!r}")
    return mode


def correct_labels(vectors: np.ndarray, text: TextEncoder, space: TextSpace, mode: str = "auto",
                   image_model: str | None = None, reference: ReferencePhotos | None = None) -> LabelCorrection:
    """The correction `mode` asks for of normalised label vectors embedded in `space`. `reference`: the user's
    reference photos; default: the photo prior of `image_model`."""
    check_label_prior(mode)
    if mode == "off":
        return LabelCorrection(vectors, None, LabelPriorChoice("off (asked for)"))
    if mode == "auto" and len(vectors) > AUTO_MAX_LABELS:
        return LabelCorrection(vectors, None, None)  # not considered: see AUTO_MAX_LABELS
    spec = label_prior_queries(space.template)
    image = model_spec(image_model, "image")

    def maker() -> Projection:
        return queries_for(image, TextSpace(space.text_encoder, spec.template), spec.top_t, spec.temperature,
                           embed=text.embed)

    try:
        queries, what = typical_queries(maker, image, reference)
    except ZsclfError as exc:
        if mode != "auto":
            raise
        return LabelCorrection(vectors, None, LabelPriorChoice(f"not applied: {exc}"))
    method, reason = default_correction(vectors, queries) if mode == "auto" else (mode, "asked for")
    if method is None:
        return LabelCorrection(vectors, None, LabelPriorChoice(reason))
    rows, description = label_prior_rows(vectors, queries, method)
    return LabelCorrection(rows, Calibration(f"{description} ({what})", len(queries)), LabelPriorChoice(reason, method),
                           spec)
