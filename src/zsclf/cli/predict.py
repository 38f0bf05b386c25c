"""`zsclf predict`: rank labels for images."""

from __future__ import annotations

from typing import Annotated

import typer

from ..data.image_files import expand_inputs
from ..errors import ZsclfError
from . import options as opt
from .render import write_results
from .terminal import note


def predict(
    inputs: Annotated[list[str], typer.Argument(help="Image files, folders (walked recursively), or - to read paths from stdin.")],
    index: opt.Index = None,
    labels: opt.Labels = None,
    template: opt.OptionalTemplate = None,
    label_prior: opt.LabelPrior = "auto",
    top_k: opt.TopK = 5,
    fmt: Annotated[opt.Format | None, typer.Option("--format", "-f", help="Output format (default: table on a terminal, else jsonl).")] = None,
    batch_size: opt.BatchSize = 32,
    threads: opt.Threads = None,
    device: opt.DeviceOpt = opt.Device.auto,
    exclude_seen: opt.ExcludeSeen = False,
    top_t: opt.TopT = None,
    min_score: opt.MinScore = None,
    model: opt.Model = None,
    projection: opt.Projection = None,
    seen_gate: opt.SeenGate = None,
    hedge: opt.Hedge = None,
    hedge_rule: opt.HedgeRuleOpt = opt.HedgeRule.darts,
    seen_penalty: opt.SeenPenalty = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Say which devices are in use.")] = False,
) -> None:
    """Rank labels for images."""
    from ..pipeline.classifier import Classifier, ClassifierConfig
    make_index = opt.labels_maker(index, labels, template, label_prior, model)  # --labels: made while the CNN loads
    clf = Classifier.from_config(ClassifierConfig(
        index=index, device=device.value, threads=opt.clamped_threads(threads), image_model=model,
        projection=projection, top_t=top_t, seen_gate=seen_gate, max_k=top_k, hedge=hedge,
        hedge_rule=hedge_rule.value, seen_penalty=seen_penalty, exclude_seen=exclude_seen), make_index)
    if verbose:
        note(f"encoder {clf.encoder.name} on {clf.devices['encoder']}, search on {clf.devices['search']}, "
             f"index {clf.index.meta.source} ({len(clf.index)} labels, text model {clf.index.meta.text_encoder.name})")
    results = clf.predict_paths(expand_inputs(inputs), top_k=top_k, batch_size=batch_size,
                                exclude_seen=exclude_seen, min_score=min_score)
    total, failed = write_results(results, fmt.value if fmt else None, hedged=hedge is not None)
    if total == 0:
        raise ZsclfError("no images found in the inputs")
    if failed:
        note(f"{failed} of {total} inputs failed")
        raise typer.Exit(1)
