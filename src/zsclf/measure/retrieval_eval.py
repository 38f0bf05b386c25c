"""`zsclf eval-retrieval`: embed a pairs file's photos and sentences, score every pair, report R@k both ways."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.progress import Progress
from ..data.pairs import read_pairs
from ..errors import ZsclfError, check_number
from ..learn.pairs_training import EmbeddedPairs, default_queries, embed_pairs
from .retrieval import retrieval_report

HUBNESS = ("inverted-softmax", "csls", "none")
MAX_TEMPERATURE = 1e6  # as `photos --temperature`: beyond it every class weighs the same
MAX_BETA = 1e4  # exp(β cos) overflows float32 long before this matters


@dataclass(frozen=True)
class Alignment:
    """How photos and sentences are compared: ConSE's knobs (or a learned map) and the hubness correction
    of photo -> sentence ranking, with the photos being ranked as the reference (a collection; never
    their sentences): inverted softmax (each sentence's cosine minus log Σ_photos exp(β cos) / β) or
    CSLS (minus its mean cosine to its k nearest photos)."""

    top_t: int = 50
    temperature: float = 2.0
    hubness: str = "inverted-softmax"  # or "csls", "none"
    csls_k: int = 10
    beta: float = 20.0
    projection: str | None = None  # a learned map file (`zsclf train --pairs`) instead of ConSE
    folds: int = 0  # > 1: train the pairs residual k-fold, each photo embedded by a map trained without it

    def __post_init__(self) -> None:
        """Every knob checked when the alignment is made, before anything is read or embedded."""
        if self.hubness not in HUBNESS:
            raise ZsclfError(f"--hubness must be one of {', '.join(HUBNESS)}, not {self.hubness!r}")
        check_number("--temperature", self.temperature, above=0, at_most=MAX_TEMPERATURE)
        check_number("--beta", self.beta, above=0, at_most=MAX_BETA)
        if self.folds == 1 or self.folds < 0:
            raise ZsclfError(f"--folds must be 0 (no training) or at least 2 (k-fold cross-validation), "
                             f"not {self.folds}")
        if self.top_t < 1 or self.csls_k < 1:
            raise ZsclfError(f"--top-t and --csls-k must be at least 1, not {self.top_t} and {self.csls_k}")

    def describe(self) -> str:
        if self.folds > 1:
            return (f"ConSE (top-{self.top_t}, temperature {self.temperature:g}) + residual learned from the pairs, "
                    f"{self.folds}-fold cross-validated (no photo is embedded by a map trained on it)")
        return (f"ConSE (top-{self.top_t}, temperature {self.temperature:g}, gloss)" if self.projection is None
                else f"learned map {self.projection}")

    def describe_hubness(self) -> str:
        how = {"none": "", "csls": f"CSLS (k={self.csls_k})", "inverted-softmax": f"inverted softmax (β={self.beta:g})"}
        return ("none" if self.hubness == "none" else
                f"{how[self.hubness]} on photo -> sentence, reference: the photos themselves; "
                "sentence -> photo plain cosine")


BASELINE = Alignment(top_t=10, temperature=1.0, hubness="none")


def photo_vectors(embedded: EmbeddedPairs, alignment: Alignment) -> np.ndarray:
    """The photos in the sentence space, as `alignment` says."""
    if alignment.folds > 1:
        return cross_validated_vectors(embedded, alignment)
    if alignment.projection is not None:
        from ..pipeline.projection_file import load_projection

        return load_projection(alignment.projection).project(embedded.features, embedded.logits)
    maker = default_queries(alignment.top_t, alignment.temperature, embedded.image_model)
    return maker.project(embedded.features, embedded.logits)


def cross_validated_vectors(embedded: EmbeddedPairs, alignment: Alignment, seed: int = 0) -> np.ndarray:
    """Every photo embedded by the residual map of the fold that held it out (k-fold over the photos)."""
    from ..learn.pairs_map import kfold_splits
    from ..learn.pairs_training import fit_residual, pairs_config

    n = len(embedded.pairs.images)
    if not 2 <= alignment.folds <= n // 5:
        raise ZsclfError(f"--folds must be between 2 and {n // 5} for {n} photos, not {alignment.folds}")
    out = np.zeros((n, embedded.sentences.shape[1]), np.float32)
    for fold, (train, test) in enumerate(kfold_splits(n, alignment.folds, seed)):
        projection, _ = fit_residual(embedded, train, pairs_config(seed=fold), alignment.top_t,
                                     alignment.temperature)
        out[test] = projection.project(embedded.features[test], embedded.logits[test])
    return out


def score(embedded: EmbeddedPairs, alignment: Alignment) -> dict:
    """R@k both ways for one alignment."""
    from ..core.hubness import csls_penalty, inverted_softmax_normaliser

    photos = photo_vectors(embedded, alignment)
    sim = photos @ embedded.sentences.T
    image_of = np.asarray(embedded.pairs.image_of)
    if alignment.hubness == "none":
        return retrieval_report(sim, image_of)
    if alignment.hubness == "csls":
        penalty = csls_penalty(embedded.sentences, photos, min(alignment.csls_k, len(photos)))
    else:
        penalty = inverted_softmax_normaliser(embedded.sentences, photos, alignment.beta) / alignment.beta
    return retrieval_report(sim - penalty[None, :], image_of, sim_t2i=sim)


def sentence_index_score(embedded: EmbeddedPairs) -> dict | None:
    """Photo -> sentence R@k as a sentence index ranks them (`build-index --sentences`, then `predict --index`):
    its ConSE, and each sentence's hubness corrected against the fixed photo prior, not the photos ranked
    (None when the prior is another image model's, or the model gives no logits)."""
    from ..learn.photo_prior import typical_queries
    from ..learn.sentence_index import BETA, SENTENCE_QUERIES, hubness_bias
    from ..models.registry import model_spec

    conse = default_queries(SENTENCE_QUERIES.top_t, SENTENCE_QUERIES.temperature, embedded.image_model)
    photos = conse.project(embedded.features, embedded.logits)
    try:
        reference, _ = typical_queries(lambda: conse, model_spec(embedded.image_model, "image"), None)
    except ZsclfError:
        return None
    bias = hubness_bias(embedded.sentences, reference)
    report = retrieval_report(photos @ embedded.sentences.T - bias[None, :], np.asarray(embedded.pairs.image_of))
    return {"projection": f"ConSE (top-{conse.top_t}, temperature {conse.temperature:g}, gloss)",
            "hubness": f"inverted softmax (β={BETA:g}) against the photo prior",
            "image_to_text": report["image_to_text"]}


def evaluate_retrieval(pairs_file: str | Path, alignment: Alignment | None = None, image_model: str | None = None,
                       progress: Progress | None = None) -> dict:
    """R@1/5/10 and median rank both ways with `alignment` (default: the measured best), the ConSE
    classifier baseline (top-10, temperature 1, no hubness correction) beside it, and photo -> sentence as
    a sentence index ranks them (what `predict --index` gives); a plain dict for the CLI."""
    from ..models.registry import model_spec, text_model_for

    alignment = alignment or Alignment()
    image = model_spec(image_model, "image")
    embedded = embed_pairs(read_pairs(pairs_file), image_model, progress)
    report = {"pairs": str(pairs_file), "photos": len(embedded.pairs.images),
              "sentences": len(embedded.pairs.sentences), "failed": len(embedded.failed),
              "space": f"{model_spec(text_model_for(image), 'text').name} sentence space",
              "projection": alignment.describe() if not image.is_joint else f"the image embedding of {image.name}",
              "hubness": alignment.describe_hubness(),
              **score(embedded, alignment), "baseline": {"projection": BASELINE.describe(), "hubness": "none",
                                                         **score(embedded, BASELINE)}}
    index_score = sentence_index_score(embedded)
    if index_score is not None:
        report["sentence_index"] = index_score
    return report
