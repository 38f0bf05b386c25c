"""Sentence indexes (`build-index --sentences`): captions or other sentences to rank for a photo.

Three things differ from a label index, each measured on coco-captions (docs/retrieval.md): sentences
are embedded as written (no template); photos become queries by ConSE over the CNN's top 50 classes
at softmax temperature 2 with the classes embedded by their glosses (the retrieval defaults of
`eval-retrieval`); and each sentence's hubness is corrected against reference photos: the user's own
(`--reference-photos`), else the typical photos of learn.photo_prior. The index stores [v, -b(v)]
with b(v) = (1/β) log mean_r exp(β cos(r, v)) over the reference photos r, so that a query with a 1
appended (pipeline.projection.Calibrated) scores cos(q, v) - b(v): how much closer the photo is to
the sentence than the reference photos are.
"""

from __future__ import annotations

import numpy as np

from ..core.hubness import inverted_softmax_normaliser
from ..core.vectors import normalize
from ..index.meta import Calibration, QueryConSE, TextSpace
from ..models.registry import ModelRef, ModelSpec, model_spec
from ..models.text_encoder import TextEncoder
from ..pipeline.projection import Projection
from ..pipeline.queries import queries_for
from .photo_prior import ReferencePhotos, typical_queries

SENTENCE_TEMPLATE = "name"  # sentences are embedded as written
SENTENCE_QUERIES = QueryConSE(top_t=50, temperature=2.0, template="gloss")
BETA = 20.0  # eval-retrieval's inverted softmax β (chosen there, not re-tuned for a fixed reference)
MIN_REFERENCE_PHOTOS = 20  # fewer: too few to say what a typical photo is
MAX_REFERENCE_PHOTOS = 5000  # more: an even sample of them (the bias is a mean)


def hubness_bias(vectors: np.ndarray, reference: np.ndarray, beta: float = BETA) -> np.ndarray:
    """[n] b(v) = (1/β) log mean_r exp(β cos(r, v)): a soft maximum of each vector's cosine to the reference."""
    log_z = inverted_softmax_normaliser(normalize(vectors), normalize(reference), beta)
    return ((log_z - np.log(len(reference))) / beta).astype(np.float32)


def sentence_queries(text: TextEncoder, image: ModelSpec, queries: QueryConSE = SENTENCE_QUERIES) -> Projection:
    """What makes a sentence index's queries for `image`: ConSE at the sentence settings, or a joint image tower."""
    return queries_for(image, TextSpace(text.ref, queries.template), queries.top_t, queries.temperature,
                       embed=text.embed)


def sentence_vectors(vectors: np.ndarray, text: TextEncoder, image: ModelRef,
                     reference: ReferencePhotos | None = None) -> tuple[np.ndarray, Calibration]:
    """The stored rows [v, -b(v)] of normalised sentence vectors, and how they were made. `image`: the image
    model that makes the queries; `reference`: the user's reference photos; default: the prior."""
    spec = model_spec(image.name, "image")
    queries, what = typical_queries(lambda: sentence_queries(text, spec), spec, reference)
    vectors = normalize(vectors)
    rows = np.hstack([vectors, -hubness_bias(vectors, queries)[:, None]]).astype(np.float32)
    return rows, Calibration(f"inverted softmax (β={BETA:g}) against {what}", len(queries))


def even_sample(paths: list[str], limit: int = MAX_REFERENCE_PHOTOS) -> list[str]:
    """At most `limit` of `paths`, evenly spread over the list (deterministic)."""
    if len(paths) <= limit:
        return paths
    return [paths[i] for i in np.linspace(0, len(paths) - 1, limit).round().astype(int)]
