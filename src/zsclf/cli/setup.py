"""`zsclf setup`: install the models and build the default index in ZSCLF_HOME."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from . import options as opt
from .terminal import ProgressBars, note


def setup(
    models_from: Annotated[str | None, typer.Option("--from", help="Copy the models from this folder or URI (with manifest.json), e.g. a checkout's models/ or s3://bucket/zsclf/models (default: export them; needs the `export` extra).")] = None,
    index_from: Annotated[str | None, typer.Option("--index-from", help="Copy the default index from this folder or URI instead of building it (~90 s on 2 cores).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Install again even when what is there is complete.")] = False,
    import_from: Annotated[Path | None, typer.Option("--import", help="Add your own model: a folder with ONNX files and a zsclf-model.json card (an image classifier, or a joint image-text pair), checked, then copied into the models folder. See README 'Bring your own model'.")] = None,
    quiet: opt.Quiet = False,
) -> None:
    """Make ZSCLF_HOME complete: models (copied or exported) and the default ImageNet-21K index."""
    if import_from is not None:
        from ..install.model_import import import_models, next_steps

        for line in next_steps(import_models(import_from, note=None if quiet else note)):
            note(line)
        return
    from ..install.home import setup_home

    with ProgressBars(quiet, "items") as progress:
        outcome = setup_home(models_from, index_from, force, progress, None if quiet else note)
    for line in outcome.notes:
        if not quiet:
            note(line)
