"""`zsclf eval-retrieval`: embed a pairs file's photos and sentences, score every pair, report R@k both ways."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.progress import Progress, counter
from ..core.vectors import normalize
from ..data.pairs import Pairs, read_pairs
from ..errors import ZsclfError
from .retrieval import retrieval_report


@dataclass
class EmbeddedPairs:
    """Photo vectors [n_ok, d] (the readable photos), sentence vectors [m, d] of those photos' sentences."""

    pairs: Pairs
    features: np.ndarray
    logits: np.ndarray
    sentences: np.ndarray
    failed: dict[str, str]


def embed_pairs(pairs: Pairs, image_model: str | None = None, progress: Progress | None = None) -> EmbeddedPairs:
    """CNN outputs (cached by content) for every photo and sentence vectors for every sentence; photos that
    cannot be read are dropped with their sentences."""
    from ..core.device import SessionConfig
    from ..learn.features import encode_images
    from ..models.image_encoder import ImageEncoder
    from ..models.text_encoder import TextEncoder

    encoder = ImageEncoder.load(image_model, SessionConfig(device="cpu", threads=1))
    encoded = encode_images(encoder, pairs.images, progress=counter(progress, "embedding photos", len(pairs.images)))
    failed = {pairs.images[i]: message for i, message in encoded.errors.items()}
    if len(encoded.ok) < 2:
        raise ZsclfError(f"{pairs.source}: fewer than 2 photos could be read (first: {next(iter(failed.values()))})")
    kept = pairs.subset(encoded.ok)
    text = TextEncoder.load(config=SessionConfig(device="cpu"))
    sentences = normalize(text.embed(kept.sentences, progress=counter(progress, "embedding sentences",
                                                                          len(kept.sentences))))
    return EmbeddedPairs(kept, encoded.features, encoded.logits, sentences, failed)


def evaluate_retrieval(pairs_file: str | Path, projection: str | Path | None = None, top_t: int = 10,
                       image_model: str | None = None, progress: Progress | None = None) -> dict:
    """R@1/5/10 and median rank both ways, with the space and projection used (a plain dict for the CLI)."""
    from ..index.meta import TextSpace
    from ..models.registry import ModelRef, model_spec
    from ..pipeline.projection_file import load_projection
    from ..pipeline.seen import conse_for

    embedded = embed_pairs(read_pairs(pairs_file), image_model, progress)
    text = model_spec(None, "text")
    if projection is None:
        project = conse_for(TextSpace(ModelRef(text.name, text.sha256), "gloss"), top_t)
        how = f"ConSE (top-{top_t}, gloss)"
    else:
        project = load_projection(projection)
        how = f"learned map {projection}"
    photos = project.project(embedded.features, embedded.logits)
    report = retrieval_report(photos @ embedded.sentences.T, np.asarray(embedded.pairs.image_of))
    return {"pairs": str(pairs_file), "photos": len(embedded.pairs.images), "sentences": len(embedded.pairs.sentences),
            "failed": len(embedded.failed), "space": f"{text.name} sentence space", "projection": how,
            "hubness": "none", **report}
