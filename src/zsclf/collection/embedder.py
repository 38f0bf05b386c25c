"""Turning photos and sentences into a collection's vectors, exactly as its `CollectionSetup` says."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from ..core.device import SessionConfig
from ..errors import ZsclfError
from ..index.meta import TextSpace, now
from ..models.image_encoder import ImageEncoder
from ..models.registry import model_spec, sha256_file, text_model_for
from ..pipeline.encoding import EncodedBatch, encode_stream
from ..pipeline.projection import Projection
from ..version import __version__
from .store import CollectionSetup

# ConSE for retrieval (chosen on coco-captions, docs/retrieval.md): mixing the top 50 classes of a softmax at
# temperature 2 finds photos by sentence better than the classifier's top 10 at temperature 1.
RETRIEVAL_TOP_T = 50
RETRIEVAL_TEMPERATURE = 2.0


def make_setup(image_model: str | None = None, projection: str | Path | None = None, top_t: int = RETRIEVAL_TOP_T,
               temperature: float = RETRIEVAL_TEMPERATURE, dtype: str = "float16",
               template: str = "gloss") -> CollectionSetup:
    """The setup of a new collection: the installed encoders, ConSE (or the learned map `projection`)."""
    image = model_spec(image_model, "image")
    text = model_spec(text_model_for(image), "text")
    text_ref = text.ref("embedding")
    if top_t < 1:
        raise ZsclfError(f"--top-t must be at least 1, not {top_t}")
    if not 0 < temperature < 1e6:
        raise ZsclfError(f"--temperature must be a positive number, not {temperature}")
    if dtype not in ("float16", "float32"):
        raise ZsclfError(f"vector dtype must be float16 or float32, not {dtype!r}")
    kind, sha, file = "joint" if image.is_joint else "conse", "", ""
    if projection is not None:
        from ..pipeline.projection_file import load_projection

        loaded = load_projection(projection)
        kind, sha, file = "linear", loaded.sha256, str(Path(projection).resolve())
        template = loaded.meta.template if loaded.meta else template
    return CollectionSetup(
        image_encoder=image.vector_ref(), text_encoder=text_ref,
        template=template, projection=kind, top_t=top_t, temperature=temperature, dim=text_ref.dim or 384, dtype=dtype,
        projection_sha256=sha, projection_file=file, created=now(), zsclf_version=__version__)


def projection_for(setup: CollectionSetup, encoder: ImageEncoder) -> Projection:
    """The projection a collection's photos were embedded with (the same map file, unchanged)."""
    if setup.projection in ("conse", "joint"):
        from ..pipeline.queries import queries_for

        return queries_for(encoder.spec, TextSpace(setup.text_encoder, setup.template), setup.top_t,
                           setup.temperature, where="this collection")
    from ..pipeline import compat
    from ..pipeline.projection_file import load_projection

    path = Path(setup.projection_file)
    if not path.is_file() or sha256_file(path) != setup.projection_sha256:
        raise ZsclfError(f"this collection was embedded with the learned map {path}, which is missing or has "
                         "changed since: put it back, or make a new collection (--db) with the map you have")
    projection = load_projection(path)
    compat.check_projection(projection, encoder.ref, TextSpace(setup.text_encoder, setup.template), path)
    return projection


class PhotoEmbedder:
    """Image encoder + projection: photo files -> the collection's vectors (loaded on first use)."""

    def __init__(self, setup: CollectionSetup, device: str = "auto", threads: int | None = None) -> None:
        self.setup = setup
        self.encoder = ImageEncoder.load(setup.image_encoder.name, SessionConfig(device, threads=1))
        if self.encoder.spec.sha256 != setup.image_encoder.sha256:
            raise ZsclfError(f"this collection was embedded with image model {setup.image_encoder.name} "
                             f"(sha256 {setup.image_encoder.sha256[:12]}), not the one installed: "
                             "make a new collection (--db)")
        self.projection = projection_for(setup, self.encoder)
        self.threads = threads

    def stream(self, paths: Iterable[str], batch_size: int = 32) -> Iterator[EncodedBatch]:
        """The pipeline's encode loop: batches in input order, `queries` = the photos' vectors."""
        return encode_stream(self.encoder, paths, batch_size, self.threads, self.projection.project)

    def embed(self, paths: list[str]) -> tuple[np.ndarray, list[str | None]]:
        """Vectors [n_ok, dim] for the readable photos and an error (or None) per path."""
        vectors, errors = [], []
        for batch in self.stream(paths):
            errors.extend(str(e) if e is not None else None for e in batch.errors)
            if batch.queries is not None:
                vectors.append(batch.queries)
        dim = self.setup.dim
        return (np.concatenate(vectors) if vectors else np.zeros((0, dim), np.float32)), errors
