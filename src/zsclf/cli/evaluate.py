"""`zsclf eval`: accuracy on labelled photos."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from . import options as opt
from .reports import print_eval, print_json
from .terminal import ProgressBars


def evaluate(
    data: Annotated[Path, typer.Argument(help="Image-folder tree (folder name = label) or a TSV/CSV manifest (path, label and/or id).")],
    index: opt.Index = None,
    labels: opt.Labels = None,
    template: opt.OptionalTemplate = None,
    label_prior: opt.LabelPrior = "auto",
    only: Annotated[str | None, typer.Option("--only", help="Keep samples whose path starts with this (e.g. test/).")] = None,
    exclude_seen: opt.ExcludeSeen = False,
    top_t: opt.TopT = None,
    batch_size: opt.BatchSize = 32,
    threads: opt.Threads = None,
    device: opt.DeviceOpt = opt.Device.auto,
    model: opt.Model = None,
    projection: opt.Projection = None,
    seen_gate: opt.SeenGate = None,
    hedge: opt.HedgeList = None,
    hedge_rule: opt.HedgeRuleOpt = opt.HedgeRule.darts,
    seen_penalty: opt.SeenPenalty = None,
    as_json: opt.Json = False,
    quiet: opt.Quiet = False,
) -> None:
    """Accuracy on labelled photos: hit@k, hierarchical precision@k, per-class accuracy, confusions."""
    from ..data.dataset import read_dataset
    from ..data.labels import read_hypernyms
    from ..measure.evaluate import evaluate as run
    from ..pipeline.classifier import Classifier
    samples = read_dataset(data, only)
    clf = Classifier.from_config(opt.classifier_config(
        labels, template, label_prior, quiet or as_json, index=index, device=device.value,
        threads=opt.clamped_threads(threads), image_model=model, projection=projection, top_t=top_t,
        seen_gate=seen_gate, seen_penalty=seen_penalty, exclude_seen=exclude_seen))
    with ProgressBars(quiet or as_json, "images") as progress:
        report = run(clf, samples, exclude_seen=exclude_seen, batch_size=batch_size, hypernyms=read_hypernyms(),
                     progress=progress, hedge=hedge or (), hedge_rule=hedge_rule.value)
    report["data"] = str(data)
    report["index"] = f"--labels {labels}" if labels is not None else str(index or "default")
    print_json(report) if as_json else print_eval(report)
    if report["failed"]:
        raise typer.Exit(1)
