"""Does this index / projection fit this encoder pair? One place answers it for predict, eval,
build-index and train, each refusal one line saying how to fix it."""

from __future__ import annotations

from pathlib import Path

from ..errors import ZsclfError
from ..index.meta import IndexMeta, TextSpace
from ..models.registry import ModelRef, load_manifest
from .projection import LinearProjection

# What an int8 model may share with its float sibling (same source weights, `install.quantize`): photo-taught
# labels, visual-space indexes, DeViSE files and hedging fits made with the float model work for the int8 one
# (5-shot hit@1 within 0.3 pt), not the reverse (an int8-built flowers12 index lost 0.6 pt with the float
# model). Measured in docs/int8.md.
SIBLING_RULE = "an int8 model may use what its float sibling made, not the reverse"


def _installed(match: str, by: str, kind: str) -> tuple[str | None, bool]:
    """(source weights sha256, is int8) of the installed `kind` model whose `by` ('name'/'sha256') is `match`
    ((None, False) when none is, or no manifest is installed)."""
    try:
        models = load_manifest().models
    except ZsclfError:
        return None, False
    for name, entry in models.items():
        if entry.kind == kind and (name if by == "name" else entry.sha256) == match:
            return (entry.source or {}).get("weights_sha256"), entry.quantized is not None
    return None, False


def _siblings(recorded: str, used: str, by: str, kind: str) -> bool:
    """Whether `used` is `recorded` or its int8 sibling (SIBLING_RULE)."""
    if recorded == used:
        return True
    (made_by, made_int8), (used_by, used_int8) = (_installed(m, by, kind) for m in (recorded, used))
    return made_by is not None and made_by == used_by and used_int8 and not made_int8


def same_image_model(recorded: ModelRef, encoder: ModelRef, by: str = "sha256") -> bool:
    """Whether vectors made with `recorded` may be used with `encoder`: the same model (by sha256, or by name
    where the record holds names that travel between machines), or `encoder` is the int8 sibling of `recorded`."""
    return _siblings(getattr(recorded, by), getattr(encoder, by), by, "image")


def same_text_model(recorded: str, used: str) -> bool:
    """Whether a fit made for labels embedded by text model `recorded` (a name) may serve an index embedded by
    `used`: the same model, or its int8 sibling (hedging fits; docs/index_build.md)."""
    return _siblings(recorded, used, "name", "text")


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
    if meta.queries and given and meta.label_prior is not None:
        raise ZsclfError(f"index {where} corrects its labels against typical photos as ConSE sees them "
                         f"(top-{meta.queries.top_t}): it takes no --projection; build it with --label-prior off "
                         "to use a DeViSE projection")
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
