"""`zsclf benchmark`: speed by stage and end to end."""

from __future__ import annotations

from typing import Annotated

import typer

from . import options as opt


def benchmark(
    images: Annotated[list[str] | None, typer.Argument(help="Images or folders (default: generated images).")] = None,
    index: opt.Index = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Use at most this many images.")] = 256,
    batch_size: opt.BatchSize = 32,
    threads: opt.Threads = None,
    device: Annotated[opt.Device, typer.Option("--device", help="auto: CPU, and CUDA too when present, side by side.")] = opt.Device.auto,
    repeats: Annotated[int, typer.Option("--repeats", min=1, help="Best of this many runs per stage.")] = 2,
    cold_runs: Annotated[int, typer.Option("--cold-runs", min=0, help="One-image predict processes to time (0 = skip).")] = 5,
    models: Annotated[list[str] | None, typer.Option("--model", help="Image model from models/manifest.json; repeat it to compare models side by side (runs interleaved, ratios to the first).")] = None,
    as_json: opt.Json = False,
) -> None:
    """Speed by stage and end to end, batch-1 latency, cold start, index load time, peak RSS."""
    from ..measure.bench import benchmark_images
    from .reports import print_benchmark, print_json

    result = benchmark_images(images, index, device.value, limit, batch_size, threads, repeats, cold_runs, models)
    print_json(result) if as_json else print_benchmark(result)
