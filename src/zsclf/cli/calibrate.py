"""`zsclf calibrate`: fit hedged answers, the novelty score and the seen-class penalty of an index."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from . import options as opt
from .terminal import ProgressBars


def calibrate(
    data: Annotated[list[Path], typer.Argument(help="Labelled photos (folder trees or manifests with path, label and/or id, optionally parent/hypernym_wnid): some of the CNN's own classes and some of others.")],
    index: opt.Index = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the fit to this JSON file instead of storing it in the index.")] = None,
    only: Annotated[str | None, typer.Option("--only", help="Keep samples whose path starts with this (e.g. train/).")] = None,
    top_t: opt.TopT = None,
    batch_size: opt.BatchSize = 32,
    threads: opt.Threads = None,
    device: opt.DeviceOpt = opt.Device.auto,
    model: opt.Model = None,
    projection: opt.Projection = None,
    seen_penalty: Annotated[float | None, typer.Option("--seen-penalty", help="Record this seen-class penalty instead of picking one (its H@5 is still measured).")] = None,
    as_json: opt.Json = False,
    quiet: opt.Quiet = False,
) -> None:
    """Fit calibrated probabilities for --hedge, P(seen) for --seen-gate and --seen-penalty on labelled photos;
    store them in the index (a new version) or, with -o, in a file. Never fit on the photos you evaluate on."""
    from ..core import paths
    from ..errors import check_number
    from ..learn.calibrate import run_calibration
    from ..pipeline.classifier import Classifier, ClassifierConfig
    from .reports import print_calibration, print_json

    check_number("--seen-penalty", seen_penalty)  # before the models load: NaN would be stored in the index
    clf = Classifier.from_config(ClassifierConfig(index, device.value, threads, model, projection, top_t,
                                                  seen_penalty=0.0))
    with ProgressBars(quiet or as_json, "images") as progress:
        report = run_calibration(clf, index or paths.default_index_dir(), data, only, output, batch_size, progress,
                                 seen_penalty)
    print_json(report) if as_json else print_calibration(report)
