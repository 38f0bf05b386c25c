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
    top_t: opt.TopT = 10,
    model: opt.Model = None,
    as_json: opt.Json = False,
    quiet: opt.Quiet = False,
) -> None:
    """Image-sentence retrieval on a pairs file: R@1/5/10 and median rank, photo→sentence and sentence→photo."""
    from ..measure.retrieval_eval import evaluate_retrieval
    from .reports import print_json, print_retrieval

    with ProgressBars(quiet or as_json, "items") as progress:
        report = evaluate_retrieval(pairs, projection, top_t, model, progress)
    print_json(report) if as_json else print_retrieval(report)
