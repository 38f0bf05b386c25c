"""`zsclf info`: versions, devices, model and index locations with checksums."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from . import options as opt


def info(
    index: Annotated[Path | None, typer.Option("--index", help="Index folder to describe.")] = None,
    as_json: opt.Json = False,
    checksums: Annotated[bool, typer.Option("--checksums/--no-checksums", help="Verify model and index checksums.")] = True,
) -> None:
    """Versions, devices, and where the models and index are (with checksums)."""
    from ..measure.sysinfo import collect_info
    from .reports import print_info, print_json

    data = collect_info(index, checksums)
    print_json(data) if as_json else print_info(data)
