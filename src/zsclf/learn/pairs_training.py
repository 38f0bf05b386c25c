"""`zsclf train --pairs`: a residual on top of ConSE learned from image-sentence pairs, and the k-fold
cross-validation that measures it (`zsclf eval-retrieval --folds`).

Photos go in as ConSE vectors (the retrieval setting: top-50, temperature 2) plus a learned
W . centre(features); W starts at zero (so training starts from ConSE) and is trained with the
bidirectional hinge rank loss (`learn.pairs_map`), early-stopped on held-out photos.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..core.progress import Progress, counter
from ..core.vectors import normalize
from ..data.pairs import Pairs, read_pairs
from ..errors import ZsclfError
from ..models.registry import text_model_for
from ..pipeline.projection import ResidualConSE
from .pairs_map import PairsMapConfig, captions_of, train_pairs_map

TOP_T, TEMPERATURE = 50, 2.0  # the ConSE the residual is added to (docs/retrieval.md)


def pairs_config(**overrides) -> PairsMapConfig:
    """The residual's training settings: gentle (lr 1e-4, weight decay 1e-2, margin 0.2, patience 15) so that
    it stays near ConSE, the best of the research sweep on coco-captions (docs/retrieval.md)."""
    settings = {"lr": 1e-4, "weight_decay": 1e-2, "margin": 0.2, "patience": 15, "epochs": 300, **overrides}
    return PairsMapConfig(**settings)


@dataclass
class EmbeddedPairs:
    """CNN features and logits of the readable photos, sentence vectors of their sentences."""

    pairs: Pairs
    features: np.ndarray
    logits: np.ndarray
    sentences: np.ndarray
    failed: dict[str, str]
    image_model: str | None = None  # whose features and logits (None: the manifest's default)


def embed_pairs(pairs: Pairs, image_model: str | None = None, progress: Progress | None = None) -> EmbeddedPairs:
    """CNN outputs (cached by content) for every photo and vectors for every sentence; photos that cannot be
    read are dropped with their sentences."""
    from ..core.device import SessionConfig
    from ..models.image_encoder import ImageEncoder
    from ..models.text_encoder import TextEncoder
    from .features import encode_images

    encoder = ImageEncoder.load(image_model, SessionConfig(device="cpu", threads=1))
    encoded = encode_images(encoder, pairs.images, progress=counter(progress, "embedding photos", len(pairs.images)))
    failed = {pairs.images[i]: message for i, message in encoded.errors.items()}
    if len(encoded.ok) < 2:
        raise ZsclfError(f"{pairs.source}: fewer than 2 photos could be read (first: {next(iter(failed.values()))})")
    kept = pairs.subset(encoded.ok)
    text = TextEncoder.load(text_model_for(encoder.spec), SessionConfig(device="cpu"))
    sentences = normalize(text.embed(kept.sentences, progress=counter(progress, "embedding sentences",
                                                                          len(kept.sentences))))
    return EmbeddedPairs(kept, encoded.features, encoded.logits, sentences, failed, image_model)


def default_queries(top_t: int = TOP_T, temperature: float = TEMPERATURE, image_model: str | None = None):
    """The training-free query maker of `image_model` (default: the manifest's) in its text space with the gloss
    template: ConSE for an image classifier, the embedding of a joint image tower (pipeline.queries)."""
    from ..index.meta import TextSpace
    from ..models.registry import model_spec
    from ..pipeline.queries import queries_for

    image = model_spec(image_model, "image")
    text = model_spec(text_model_for(image), "text")
    return queries_for(image, TextSpace(text.ref("embedding"), "gloss"), top_t, temperature)


def fit_residual(embedded: EmbeddedPairs, rows: np.ndarray, config: PairsMapConfig | None = None,
                 top_t: int = TOP_T, temperature: float = TEMPERATURE, progress=None) -> tuple[ResidualConSE, object]:
    """Train the residual on the photos `rows` (and their sentences); returns the projection and the trained map."""
    from ..models.registry import model_spec
    from ..pipeline.queries import require_classes

    require_classes(model_spec(embedded.image_model, "image"), "a residual map learned from pairs")
    conse = default_queries(top_t, temperature, embedded.image_model)
    features = embedded.features[rows]
    mean = normalize(features).mean(axis=0)
    x = normalize(normalize(features) - mean)
    captions, position = captions_of(np.asarray(embedded.pairs.image_of), rows)
    model = train_pairs_map(x, embedded.sentences[captions], position, base=conse.project(features,
                                                                                            embedded.logits[rows]),
                            config=config or pairs_config(), progress=progress)
    return ResidualConSE(conse, model.w, mean), model


def run_pairs_training(pairs_file: str | Path, output: str | Path, config: PairsMapConfig | None = None,
                       progress: Progress | None = None):
    """Embed the pairs, train the residual on all their photos (a share held out for early stopping), write it."""
    from ..core.targets import check_output_file
    from ..index.meta import now
    from ..models.registry import model_spec
    from ..pipeline.projection_file import ProjectionMeta, save_projection
    from ..version import __version__

    config = config or pairs_config()
    target = check_output_file(Path(output), "projection")  # before any work (a symlink is followed)
    embedded = embed_pairs(read_pairs(pairs_file), progress=progress)
    if len(embedded.pairs.images) < 10:
        raise ZsclfError(f"{pairs_file}: training a map needs at least 10 readable photos")

    def report(epoch: int, record: dict) -> None:
        if progress:
            note = f"loss {record['train_loss']:.4f}, val R-sum {record['val']:.3f}"
            progress("training", epoch, config.epochs, note)

    projection, model = fit_residual(embedded, np.arange(len(embedded.pairs.images)), config, progress=report)
    image, text = model_spec(None, "image"), model_spec(None, "text")
    meta = ProjectionMeta(
        kind="pairs", space="text", template="gloss",
        image_encoder=image.vector_ref(), text_encoder=text.ref("embedding"), zsclf_version=__version__,
        created=now(), trained_on={"pairs": str(pairs_file), "photos": len(embedded.pairs.images),
                                   "sentences": len(embedded.pairs.sentences)},
        hyper_parameters=asdict(config), best_epoch=model.best_epoch, top_t=TOP_T, temperature=TEMPERATURE,
        history=[{k: round(v, 5) if isinstance(v, float) else v for k, v in h.items()} for h in model.history])
    save_projection(target, projection.matrix, meta, projection.mean)
    return model, embedded
