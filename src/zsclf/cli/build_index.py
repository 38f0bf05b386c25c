"""`zsclf build-index`: label names and/or example photos -> a searchable index folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from . import options as opt
from .terminal import ProgressBars, note


def build_index(
    labels: Annotated[Path | None, typer.Argument(help="Label file: .txt (one per line) or .tsv/.csv with a header. Optional with --examples.")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Index folder to write (default: next to the labels).")] = None,
    template: opt.OptionalTemplate = None,
    kind: Annotated[opt.IndexKind, typer.Option("--kind", help="flat = exact search; hnsw = approximate (recall is measured and printed).")] = opt.IndexKind.flat,
    examples: Annotated[Path | None, typer.Option("--examples", help="Example photos per label: a folder per label, or a manifest (path, label[, id]).")] = None,
    shots: Annotated[int | None, typer.Option("--shots", min=1, help="Use at most N photos per label (chosen reproducibly).")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Which photos --shots picks (a seeded shuffle of the sorted paths).")] = 0,
    space: Annotated[opt.Space, typer.Option("--space", help="text: label-embedding space; visual: the CNN's feature space (DEM); auto: visual with --examples, else text (chosen by measurement).")] = opt.Space.auto,
    projection: Annotated[Path | None, typer.Option("--projection", help="DeViSE projection (from `zsclf train`) for photo-taught labels in the text space.")] = None,
    sentences: Annotated[bool, typer.Option("--sentences", help="The labels are sentences (captions) to rank for photos: embedded as written, photos mixed from the CNN's top 50 classes, each sentence's hubness corrected against typical photos (docs/retrieval.md).")] = False,
    reference_photos: Annotated[Path | None, typer.Option("--reference-photos", help="Photos like the ones you will classify or rank (a folder, at least 20) to correct labels' or sentences' hubness against, instead of the shipped typical photos.")] = None,
    label_prior: opt.LabelPrior = "auto",
    model: opt.Model = None,
    text_model: opt.TextModel = None,
    threads: opt.Threads = None,
    quiet: opt.Quiet = False,
) -> None:
    """Embed labels (names and/or example photos) and write a searchable index folder."""
    from ..learn.builder import BuildRequest, make_index

    request = BuildRequest(labels=labels, examples=examples, output=output, template=template, kind=kind.value,
                           space=space.value, shots=shots, seed=seed, projection=projection, threads=threads,
                           sentences=sentences, reference_photos=reference_photos, label_prior=label_prior,
                           model=model, text_model=text_model)
    with ProgressBars(quiet, "items") as progress:
        outcome = make_index(request, progress)
    for line in outcome.notes:
        note(line)
    meta = outcome.index.meta
    recall = f", HNSW recall@10 vs exact: {meta.hnsw_recall_at_10:.3f}" if meta.hnsw_recall_at_10 is not None else ""
    taught = (f", {meta.photos.labels} taught by {meta.photos.photos} photos" if meta.photos else
              ", sentences" if meta.is_sentences else "")
    if meta.label_prior is not None:
        taught += f", label prior: {meta.label_prior.method or 'none'} ({meta.label_prior.reason})"
    if not quiet:
        note(f"wrote {outcome.output} ({meta.count} labels{taught}, {meta.space} space, {meta.kind}{recall})")
    elif recall:
        note(recall.lstrip(", "))
