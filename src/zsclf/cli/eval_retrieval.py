"""`zsclf eval-retrieval`: how well photos and sentences find each other (R@k, median rank, both ways)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from . import options as opt
from .terminal import ProgressBars


def eval_retrieval(
    pairs: Annotated[Path, typer.Argument(help="TSV/CSV with a header naming an image column (path, image, image_path) and a sentence column (caption, sentence, text); several sentences per photo as separate rows.")],
    projection: Annotated[Path | None, typer.Option("--projection", help="Learned map from `zsclf train --pairs` (default: ConSE).")] = None,
    top_t: Annotated[int, typer.Option("--top-t", min=1, help="ConSE: how many of the CNN's classes are mixed.")] = 50,
    temperature: Annotated[float, typer.Option("--temperature", help="ConSE: softmax temperature.")] = 2.0,
    hubness: Annotated[str, typer.Option("--hubness", help="Hubness correction of photo → sentence ranking against the photos themselves: inverted-softmax, csls or none.")] = "inverted-softmax",
    beta: Annotated[float, typer.Option("--beta", help="Inverted softmax: inverse temperature β.")] = 20.0,
    csls_k: Annotated[int, typer.Option("--csls-k", min=1, help="CSLS: nearest reference photos per sentence.")] = 10,
    folds: Annotated[int, typer.Option("--folds", min=0, help="Measure `train --pairs` by k-fold cross-validation over the photos (each photo embedded by a map trained without it); 0: no training; else at least 2.")] = 0,
    model: opt.Model = None,
    as_json: opt.Json = False,
    quiet: opt.Quiet = False,
) -> None:
    """Image-sentence retrieval on a pairs file: R@1/5/10 and median rank, photo→sentence and sentence→photo."""
    from ..measure.retrieval_eval import Alignment, evaluate_retrieval
    from .reports import print_json, print_retrieval

    with ProgressBars(quiet or as_json, "items") as progress:
        alignment = Alignment(top_t, temperature, hubness, csls_k, beta, str(projection) if projection else None, folds)
        report = evaluate_retrieval(pairs, alignment, model, progress)
    print_json(report) if as_json else print_retrieval(report)
