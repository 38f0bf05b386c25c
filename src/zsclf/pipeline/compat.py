"""Does this index / projection fit this encoder pair? One place answers it for predict, eval,
build-index and train, each refusal one line saying how to fix it."""

from __future__ import annotations

from pathlib import Path

from ..errors import ZsclfError
from ..index.meta import IndexMeta, TextSpace
from ..models.registry import ModelRef, load_manifest
from .projection import LinearProjection

# An int8 model and its float sibling (same source weights, `install.quantize`) may share what is tied to an
# image model: photo-taught labels, visual-space indexes, DeViSE files, hedging fits. Measured in docs/int8.md.
SIBLINGS_SHARE = True
SIBLING_RULE = ("int8 and float siblings share indexes and projections" if SIBLINGS_SHARE else
                "int8 and float siblings do not share indexes or projections (docs/int8.md)")


def _source_weights(match: str, by: str) -> str | None:
    """The source weights' sha256 of the installed image model whose `by` ('name' or 'sha256') is `match`."""
    for name, entry in load_manifest().models.items():
        if entry.kind == "image" and (name if by == "name" else entry.sha256) == match:
            return (entry.source or {}).get("weights_sha256")
    return None


def same_image_model(recorded: ModelRef, encoder: ModelRef, by: str = "sha256") -> bool:
    """Whether vectors made with `recorded` may be used with `encoder`: the same model (by sha256, or by name
    where the record holds names that travel between machines), or, when siblings share, its int8/float sibling."""
    if getattr(recorded, by) == getattr(encoder, by):
        return True
    weights = _source_weights(getattr(recorded, by), by) if SIBLINGS_SHARE else None
    return weights is not None and weights == _source_weights(getattr(encoder, by), by)


def check_text_encoder(meta: IndexMeta, where: str | Path) -> None:
    """Refuse an index whose text encoder is not installed (its vectors would be meaningless)."""
    manifest = load_manifest()
    entry = manifest.models.get(meta.text_encoder.name)
    if entry is None or entry.sha256 != meta.text_encoder.sha256:
        have = manifest.default_text_model
        have_sha = manifest.models[have].sha256 if have in manifest.models else "?"
        raise ZsclfError(f"index {where} was built with text encoder {meta.text_encoder.name} "
                         f"(sha256 {meta.text_encoder.sha256[:12]}), but this install has {have} "
                         f"(sha256 {have_sha[:12]}): rebuild it with `zsclf build-index`")


def check_image_encoder(meta: IndexMeta, encoder: ModelRef, where: str | Path) -> None:
    """Refuse an index whose photo-taught or visual-space vectors came from another image encoder."""
    if meta.image_encoder and not same_image_model(meta.image_encoder, encoder):
        raise ZsclfError(f"index {where} was built with image encoder {meta.image_encoder.name}, not "
                         f"{encoder.name} ({SIBLING_RULE}): rebuild it or pass the matching --model")


def check_projection(projection: LinearProjection, image: ModelRef, space: TextSpace, source: str | Path) -> None:
    """Refuse a projection trained for another image encoder, text encoder, template or dimension."""
    meta = projection.meta
    if meta is None:
        return  # an in-memory map made by the caller
    if not same_image_model(meta.image_encoder, image):
        raise ZsclfError(f"projection {source} was trained on image encoder {meta.image_encoder.name} "
                         f"(sha256 {meta.image_encoder.sha256[:12]}), not the one in use ({SIBLING_RULE}): retrain it")
    if meta.text_encoder.sha256 != space.text_encoder.sha256 or meta.template != space.template:
        raise ZsclfError(f"projection {source} targets {meta.text_encoder.name} embeddings with template "
                         f"{meta.template!r}; the index has {space.text_encoder.name} with {space.template!r}: "
                         "rebuild the index or retrain the projection")
    dim = space.text_encoder.dim
    if dim is not None and projection.dim != dim:
        raise ZsclfError(f"projection {source} gives {projection.dim}-d vectors, the index holds {dim}-d")


def check_takes_projection(meta: IndexMeta, given: bool, where: str | Path) -> None:
    """An index in the visual space takes no projection; one whose photo-taught labels were made with a
    DeViSE projection needs one (checked before any file is read)."""
    if meta.space == "visual" and given:
        raise ZsclfError(f"index {where} is in the visual space: it takes no --projection")
    if meta.queries and given:
        raise ZsclfError(f"index {where} is a sentence index (its hubness biases were fitted for ConSE "
                         f"queries, top-{meta.queries.top_t}): it takes no --projection")
    if meta.projection and not given:
        raise ZsclfError(f"index {where} holds photo-taught labels made with a DeViSE projection: "
                         "pass the same --projection")


def check_same_projection(meta: IndexMeta, projection: LinearProjection, where: str | Path, source: str | Path) -> None:
    """The projection must be the very file the index's photo-taught labels were made with, if any."""
    if meta.projection and meta.projection.sha256 != projection.sha256:
        raise ZsclfError(f"index {where} was built with another DeViSE projection than {source}")
