"""Option declarations the commands share (one definition each), and the enums behind them."""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from ..index.label_index import LabelIndex
    from ..pipeline.classifier import ClassifierConfig


class Format(str, Enum):
    table = "table"
    jsonl = "jsonl"
    csv = "csv"
    tsv = "tsv"
    html = "html"


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


class Engine(str, Enum):
    local = "local"
    ray = "ray"


class IndexKind(str, Enum):
    flat = "flat"
    hnsw = "hnsw"


class HedgeRule(str, Enum):
    darts = "darts"
    threshold = "threshold"


class Space(str, Enum):
    auto = "auto"
    text = "text"
    visual = "visual"


Index = Annotated[Path | None, typer.Option("--index", help="Index folder (default: the ImageNet-21K index).")]
TopK = Annotated[int, typer.Option("--top-k", "-k", min=1, help="Labels per image.")]
MinScore = Annotated[float | None, typer.Option("--min-score", help="Drop labels scoring below this cosine similarity.")]
TopT = Annotated[int | None, typer.Option("--top-t", min=1, help="ConSE: how many seen classes are mixed (default: 10; 50 for a sentence index).")]
BatchSize = Annotated[int, typer.Option("--batch-size", min=1, help="Images per encoder batch.")]
Threads = Annotated[int | None, typer.Option("--threads", min=1, help="Compute threads (default: all cores).")]
DeviceOpt = Annotated[Device, typer.Option("--device", help="Where to run.")]
ExcludeSeen = Annotated[bool, typer.Option("--exclude-seen", help="Never answer one of the 1,000 ImageNet-1K training classes.")]
Model = Annotated[str | None, typer.Option("--model", help="Image model from models/manifest.json.")]
TextModel = Annotated[str | None, typer.Option("--text-model", help="Text model that embeds the labels (default: the "
                                               "manifest's; a joint image model takes only its own text tower).")]
Projection = Annotated[Path | None, typer.Option("--projection", help="DeViSE projection from `zsclf train` (default: ConSE).")]
SeenGate = Annotated[float | None, typer.Option("--seen-gate", help="Novelty detection: when the probability that the photo shows one of the CNN's classes (fitted on its energy) reaches P (0-1), answer with its own classes (scores = probabilities).")]
Hedge = Annotated[float | None, typer.Option("--hedge", help="Also give a hedged answer: the most informative WordNet node that is right with probability P (e.g. 0.9), from calibrated probabilities.")]
HedgeList = Annotated[list[float] | None, typer.Option("--hedge", help="Hedged accuracy, information gain and depths of hedged answers at accuracy target P (repeatable: --hedge 0.8 --hedge 0.9).")]
HedgeRuleOpt = Annotated[HedgeRule, typer.Option("--hedge-rule", help="darts: most expected information gain with accuracy >= P on photos like the calibration set; threshold: each answer's own probability >= P.")]
SeenPenalty = Annotated[float | None, typer.Option("--seen-penalty", help="Calibrated stacking: subtract this from the scores of the CNN's own classes (default: the index's fitted value, else 0).")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]
Json = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
TEMPLATE_HELP = "Text embedded per label: gloss (name: description, else name), name, photo, lemmas, or a format string with {name}."
Template = Annotated[str, typer.Option("--template", help=TEMPLATE_HELP)]
OptionalTemplate = Annotated[str | None, typer.Option("--template", help=TEMPLATE_HELP + " Default: gloss.")]
Labels = Annotated[str | None, typer.Option("--labels", help="Your own labels instead of an index: a comma-separated list (\"cat, dog, red car\") or a label file; embedded once, then cached.")]
LabelPrior = Annotated[str, typer.Option("--label-prior", help="Correct text labels' hubness against typical photos: auto (where it measurably helps), off, or a method (docs/label_prior.md).")]
Db = Annotated[Path | None, typer.Option("--db", help="Photo collection file (default: $ZSCLF_COLLECTION, else ~/.local/share/zsclf/photos.db).")]


def clamped_threads(requested: int | None) -> int:
    """--threads lowered to the cores available, with a note on stderr when it had to be."""
    from ..core.device import clamp_threads
    from .terminal import note

    threads, why = clamp_threads(requested)
    if why:
        note(why)
    return threads


def labels_maker(index: Path | None, labels: str | None, template: str | None = None, label_prior: str = "auto",
                 model: str | None = None, quiet: bool = False) -> Callable[[], tuple[Path, LabelIndex]] | None:
    """None without `--labels`; else what makes (or finds in the cache) its index, to be called while the image
    model loads: (the folder, the index loaded from it). The option combinations are checked now: `--template`/`--label-prior` only go with
    `--labels`, which excludes `--index`."""
    from ..errors import ZsclfError

    if labels is None:
        if template is not None or label_prior != "auto":
            raise ZsclfError("--template and --label-prior describe --labels: give --labels, or build an index "
                             "with `zsclf build-index` and pass --index")
        return None
    if index is not None:
        raise ZsclfError("--labels and --index exclude each other: give one")

    def make() -> tuple[Path, LabelIndex]:
        from ..learn.label_cache import labels_index
        from .terminal import note

        own = labels_index(labels, template, label_prior, model)
        for line in own.notes:
            note(line)
        if not own.cached and not quiet:
            note(f"embedded {own.labels} labels (cached for the next run)")
        return own.folder, own.index

    return make


def classifier_config(labels: str | None, template: str | None, label_prior: str, quiet: bool = False,
                      **fields) -> ClassifierConfig:
    """ClassifierConfig from the options predict, eval and batch share (`fields`: its own), with `--labels`
    resolved to its cached index."""
    from ..pipeline.classifier import ClassifierConfig

    make = labels_maker(fields.get("index"), labels, template, label_prior, fields.get("image_model"), quiet)
    ClassifierConfig(**fields).check_model()  # refusals before the labels are embedded
    return ClassifierConfig(**{**fields, "index": make()[0] if make else fields.get("index")})
