"""`zsclf photos`: add folders of photos to a collection, or bring it up to date (safe to run from cron)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from . import options as opt
from .terminal import ProgressBars, error, note


def photos(
    folders: Annotated[list[Path], typer.Argument(help="Folders of photos, walked recursively (hidden and system files skipped).")],
    db: opt.Db = None,
    exclude: Annotated[list[str] | None, typer.Option("--exclude", "-x", help="Skip files and folders whose name, path under FOLDER or full path matches this glob (repeatable), e.g. '*/thumbnails' or '*.png'.")] = None,
    batch_size: opt.BatchSize = 32,
    threads: opt.Threads = None,
    device: opt.DeviceOpt = opt.Device.auto,
    model: opt.Model = None,
    projection: Annotated[Path | None, typer.Option("--projection", help="Learned map (`zsclf train --pairs`) for a new collection (default: ConSE).")] = None,
    top_t: Annotated[int | None, typer.Option("--top-t", min=1, help="ConSE for a new collection: how many of the CNN's classes are mixed (default: 50).")] = None,
    temperature: Annotated[float | None, typer.Option("--temperature", help="ConSE for a new collection: softmax temperature, higher mixes the classes more evenly (default: 2).")] = None,
    prune: Annotated[bool, typer.Option("--prune", help="Also forget the photos under folders that are missing or empty now (by default they are kept: an unplugged drive).")] = False,
    quiet: opt.Quiet = False,
) -> None:
    """Add or update photos in a collection: embeds new and changed photos only, forgets deleted ones."""
    from ..collection.collection import Collection

    collection = Collection.open(db, device.value, threads, check=True, image_model=model, projection=projection,
                                 top_t=top_t, temperature=temperature)
    with collection, ProgressBars(quiet, "photos") as progress:
        def report(kind: str, message: str) -> None:
            line = {"failed": f"error: {message}", "skipped": f"skipped {message}", "kept": f"kept {message}"
                    }.get(kind, message)
            progress.line(line) if progress is not None else (error(message) if kind == "failed" else note(line))

        summary = collection.add(folders, exclude or [], batch_size, progress, report, prune)
    note(f"{collection.path}: {summary.line()}")
    if summary.failed:
        raise typer.Exit(1)
