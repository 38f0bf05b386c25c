"""`zsclf batch`: score many photos into a Parquet dataset, here or on a Ray cluster; resumable."""

from __future__ import annotations

from typing import Annotated

import typer

from . import options as opt
from .reports import print_batch
from .terminal import ProgressBars


def batch(
    inputs: Annotated[list[str], typer.Argument(help="Folders, path lists (text, or - for stdin), Parquet/CSV/TSV files with a path column, or images; local or URIs (s3://, gs://, file://).")],
    output: Annotated[str, typer.Option("--output", "-o", help="Output folder (local or a URI): Parquet parts; an existing output is resumed.")],
    engine: Annotated[opt.Engine, typer.Option("--engine", help="local: this process; ray: Ray Data actors.")] = opt.Engine.local,
    address: Annotated[str | None, typer.Option("--address", help="Ray cluster address (auto: the one running here; default: start a local one).")] = None,
    workers: Annotated[int | None, typer.Option("--workers", min=1, help="Ray actors (default: as many as CPUs/GPUs and memory allow).")] = None,
    gpus_per_worker: Annotated[float, typer.Option("--gpus-per-worker", min=0, help="GPUs per Ray actor (>0: CUDA, decoding in CPU tasks).")] = 0.0,
    index: opt.Index = None,
    labels: opt.Labels = None,
    template: opt.OptionalTemplate = None,
    label_prior: opt.LabelPrior = "auto",
    top_k: opt.TopK = 5,
    batch_size: opt.BatchSize = 32,
    threads: Annotated[int | None, typer.Option("--threads", min=1, help="Compute threads (local: default all cores; ray: per worker, default 1; with a decode stage: decoder threads per CPU task, default 1).")] = None,
    device: opt.DeviceOpt = opt.Device.auto,
    exclude_seen: opt.ExcludeSeen = False,
    top_t: opt.TopT = None,
    min_score: opt.MinScore = None,
    model: opt.Model = None,
    projection: opt.Projection = None,
    seen_gate: opt.SeenGate = None,
    path_column: Annotated[str | None, typer.Option("--path-column", help="Column of paths in Parquet/CSV/TSV inputs.")] = None,
    part_rows: Annotated[int, typer.Option("--part-rows", min=1, help="Rows per Parquet part (what a crash can lose).")] = 4096,
    ship_models: Annotated[bool, typer.Option("--ship-models", help="Ray: send models and index to the workers (no shared ZSCLF_HOME).")] = False,
    split_decode: Annotated[bool | None, typer.Option("--split-decode/--no-split-decode", help="Ray: decode in CPU tasks feeding the workers (default: with GPUs).")] = None,
    quiet: opt.Quiet = False,
    as_json: opt.Json = False,
) -> None:
    """Score many photos into a Parquet dataset (path, labels, ids, scores, error); re-run to resume."""
    from ..batch import BatchRequest, run_batch
    config = opt.classifier_config(labels, template, label_prior, quiet, index=index, device=device.value,
                                   threads=threads, image_model=model, projection=projection, top_t=top_t,
                                   seen_gate=seen_gate, max_k=top_k, exclude_seen=exclude_seen)
    request = BatchRequest(inputs, output, config, top_k, batch_size, exclude_seen, min_score, engine.value, address,
                           workers, gpus_per_worker, split_decode, part_rows, path_column, ship_models)
    with ProgressBars(quiet, "images") as progress:
        outcome = run_batch(request, progress)
    print_batch(outcome, quiet, as_json)
    if outcome.failed:
        raise typer.Exit(1)
