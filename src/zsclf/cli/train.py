"""`zsclf train`: learn a DeViSE projection from labelled photos."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from . import options as opt
from .terminal import ProgressBars, note


def train(
    output: Annotated[Path, typer.Option("--output", "-o", help="Projection file to write (.npz).")],
    data: Annotated[Path | None, typer.Argument(help="Labelled photos: an image-folder tree or a manifest (path, label and/or id).")] = None,
    pairs: Annotated[Path | None, typer.Option("--pairs", help="Image-sentence pairs (TSV/CSV with image and caption columns): learn a residual on ConSE for sentence retrieval with the bidirectional hinge rank loss, instead of DeViSE.")] = None,
    only: Annotated[str | None, typer.Option("--only", help="Keep samples whose path starts with this (e.g. train/).")] = None,
    labels: Annotated[Path | None, typer.Option("--labels", help="Label file giving each id's text (default: labels/imagenet21k.tsv).")] = None,
    template: Annotated[str, typer.Option("--template", help="Label text template; must match the index you will search.")] = "gloss",
    epochs: Annotated[int | None, typer.Option("--epochs", min=1, help="At most this many epochs (default: 200; --pairs 300).")] = None,
    margin: Annotated[float | None, typer.Option("--margin", help="Hinge rank loss margin (default: 0.1; --pairs 0.2).")] = None,
    lr: Annotated[float | None, typer.Option("--lr", help="Adam learning rate (default: 1e-3; --pairs 1e-4).")] = None,
    negatives: Annotated[int, typer.Option("--negatives", min=1, help="Wrong labels sampled per photo and step.")] = 100,
    val_fraction: Annotated[float, typer.Option("--val-fraction", min=0.0, max=0.9, help="Held-out share of each class for validation and early stopping.")] = 0.2,
    patience: Annotated[int | None, typer.Option("--patience", min=1, help="Epochs without validation gain before stopping (default: 20; --pairs 15).")] = None,
    quiet: opt.Quiet = False,
) -> None:
    """Learn DeViSE's linear map from CNN features to label embeddings (hinge rank loss), or with --pairs a map for
    sentence retrieval (bidirectional hinge rank loss)."""
    from ..learn.train import run_training

    if pairs is not None or data is None:
        return _train_pairs(pairs, data, output, epochs, margin, lr, patience, quiet)
    with ProgressBars(quiet, "items") as progress:
        result = run_training(data, output, only=only, labels=labels, template=template, progress=progress,
                              epochs=epochs or 200, margin=0.1 if margin is None else margin, lr=lr or 1e-3,
                              negatives=negatives, val_fraction=val_fraction, patience=patience or 20)
    note(f"wrote {output}: {result.train_size} training photos, {result.labels} labels, best epoch "
         f"{result.best_epoch}, validation hit@1 {result.val_hit.get('@1', float('nan')):.3f}")


def _train_pairs(pairs: Path | None, data: Path | None, output: Path, epochs: int | None, margin: float | None,
                 lr: float | None, patience: int | None, quiet: bool) -> None:
    from ..errors import ZsclfError
    from ..learn.pairs_training import pairs_config, run_pairs_training

    if pairs is None or data is not None:
        raise ZsclfError("give labelled photos (DATA) or image-sentence pairs (--pairs), one of the two")
    given = {"epochs": epochs, "margin": margin, "lr": lr, "patience": patience}
    config = pairs_config(**{k: v for k, v in given.items() if v is not None})
    with ProgressBars(quiet, "items") as progress:
        model, embedded = run_pairs_training(pairs, output, config, progress)
    note(f"wrote {output}: {len(embedded.pairs.images)} photos, {len(embedded.pairs.sentences)} sentences, "
         f"best epoch {model.best_epoch} (measure it with `zsclf eval-retrieval PAIRS --folds 5`)")
