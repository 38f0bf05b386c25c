"""Sentence indexes (`build-index --sentences`): captions or other sentences to rank for a photo.

Three things differ from a label index, each measured on coco-captions (docs/retrieval.md): sentences
are embedded as written (no template); photos become queries by ConSE over the CNN's top 50 classes
at softmax temperature 2 with the classes embedded by their glosses (the retrieval defaults of
`eval-retrieval`); and each sentence's hubness is corrected against typical photos (learn.photo_prior):
the index stores [v, -b(v)] with b(v) = (1/β) log mean_r exp(β cos(r, v)) over the reference photos r,
so that a query with a 1 appended (pipeline.projection.Calibrated) scores cos(q, v) - b(v): how much
closer the photo is to the sentence than typical photos are.
"""

from __future__ import annotations

import numpy as np

from ..core.hubness import inverted_softmax_normaliser
from ..core.vectors import normalize
from ..index.meta import Calibration, QueryConSE, TextSpace
from ..models.text_encoder import TextEncoder
from ..pipeline.projection import ConSE
from ..pipeline.seen import seen_class_embeddings
from .photo_prior import prior_queries

SENTENCE_TEMPLATE = "name"  # sentences are embedded as written
SENTENCE_QUERIES = QueryConSE(top_t=50, temperature=2.0, template="gloss")
BETA = 20.0  # eval-retrieval's inverted softmax β (chosen there, not re-tuned for the prior)


def hubness_bias(vectors: np.ndarray, reference: np.ndarray, beta: float = BETA) -> np.ndarray:
    """[n] b(v) = (1/β) log mean_r exp(β cos(r, v)): a soft maximum of each vector's cosine to the reference."""
    log_z = inverted_softmax_normaliser(normalize(vectors), normalize(reference), beta)
    return ((log_z - np.log(len(reference))) / beta).astype(np.float32)


def sentence_vectors(vectors: np.ndarray, text: TextEncoder,
                     queries: QueryConSE = SENTENCE_QUERIES) -> tuple[np.ndarray, Calibration]:
    """The stored rows [v, -b(v)] of normalised sentence vectors, and how they were made."""
    conse = ConSE(seen_class_embeddings(TextSpace(text.ref, queries.template), text.embed), queries.top_t,
                  queries.temperature)
    reference = prior_queries(conse)
    vectors = normalize(vectors)
    rows = np.hstack([vectors, -hubness_bias(vectors, reference)[:, None]]).astype(np.float32)
    return rows, Calibration(f"inverted softmax (β={BETA:g}) against the photo prior", len(reference))
