"""`zsclf train`: learn a DeViSE projection from labelled photos."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from . import options as opt
from .terminal import ProgressBars, note


def train(
    data: Annotated[Path, typer.Argument(help="Labelled photos: an image-folder tree or a manifest (path, label and/or id).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Projection file to write (.npz).")],
    only: Annotated[str | None, typer.Option("--only", help="Keep samples whose path starts with this (e.g. train/).")] = None,
    labels: Annotated[Path | None, typer.Option("--labels", help="Label file giving each id's text (default: labels/imagenet21k.tsv).")] = None,
    template: Annotated[str, typer.Option("--template", help="Label text template; must match the index you will search.")] = "gloss",
    epochs: Annotated[int, typer.Option("--epochs", min=1)] = 200,
    margin: Annotated[float, typer.Option("--margin", help="Hinge rank loss margin.")] = 0.1,
    lr: Annotated[float, typer.Option("--lr", help="Adam learning rate.")] = 1e-3,
    negatives: Annotated[int, typer.Option("--negatives", min=1, help="Wrong labels sampled per photo and step.")] = 100,
    val_fraction: Annotated[float, typer.Option("--val-fraction", min=0.0, max=0.9, help="Held-out share of each class for validation and early stopping.")] = 0.2,
    patience: Annotated[int, typer.Option("--patience", min=1, help="Epochs without validation gain before stopping.")] = 20,
    quiet: opt.Quiet = False,
) -> None:
    """Learn DeViSE's linear map from CNN features to label embeddings (hinge rank loss)."""
    from ..learn.train import run_training

    with ProgressBars(quiet, "items") as progress:
        result = run_training(data, output, only=only, labels=labels, template=template, progress=progress,
                              epochs=epochs, margin=margin, lr=lr, negatives=negatives, val_fraction=val_fraction,
                              patience=patience)
    note(f"wrote {output}: {result.train_size} training photos, {result.labels} labels, best epoch "
         f"{result.best_epoch}, validation hit@1 {result.val_hit.get('@1', float('nan')):.3f}")
