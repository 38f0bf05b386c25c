"""`run_batch`: list the inputs, skip what the output already holds, score the rest on an engine, write
Parquet parts. Both engines run the same unit of work, `Classifier.score_paths` (or, for images decoded
by a separate CPU stage, `Classifier.score_pixels`): results are those of `predict`."""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..core import paths as locations
from ..core import uri
from ..core.progress import Progress, counter
from ..errors import ZsclfError, check_number
from ..pipeline.classifier import Classifier, ClassifierConfig, query_top_t
from ..pipeline.result_table import arrow_text
from ..version import __version__
from .sink import PartSink, RunSettings, open_sink
from .sources import list_paths

ENGINES = ("local", "ray")


@dataclass(frozen=True)
class BatchRequest:
    """What to score, where to write it, and on which engine (see `zsclf batch --help`)."""

    inputs: Sequence[str]
    output: str
    classifier: ClassifierConfig = field(default_factory=ClassifierConfig)
    top_k: int = 5
    batch_size: int = 32
    exclude_seen: bool = False
    min_score: float | None = None
    engine: str = "local"
    address: str | None = None  # Ray: a cluster's address, "auto" (the one on this machine); None: start one
    workers: int | None = None  # Ray actors (default: as many as the cluster's CPUs/GPUs and memory allow)
    gpus_per_worker: float = 0.0
    split_decode: bool | None = None  # Ray: decode in CPU tasks feeding the workers (default: with GPUs)
    part_rows: int = 4096
    path_column: str | None = None
    ship_models: bool = False  # Ray: send models and index through the object store (no shared ZSCLF_HOME)

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise ZsclfError(f"unknown engine {self.engine!r}: choose one of {', '.join(ENGINES)}")
        if self.part_rows < 1 or self.batch_size < 1 or self.top_k < 1:
            raise ZsclfError("--part-rows, --batch-size and --top-k must be at least 1")
        if self.workers is not None and self.workers < 1:
            raise ZsclfError(f"--workers must be at least 1, not {self.workers}")
        check_number("--gpus-per-worker", self.gpus_per_worker, at_least=0)
        check_number("--min-score", self.min_score)
        ray_only = {"--address": self.address, "--workers": self.workers, "--gpus-per-worker": self.gpus_per_worker,
                    "--split-decode": self.split_decode, "--ship-models": self.ship_models}
        if self.engine == "local" and (given := [name for name, value in ray_only.items() if value]):
            raise ZsclfError(f"{', '.join(given)}: only with --engine ray")

    @property
    def rows_per_call(self) -> int:
        """Inputs per `score_paths` call (on Ray: at most; see batch.sizing): a multiple of the batch size, so
        that images are batched (and their label search done, whose last float digit depends on the batch)
        exactly as `predict` batches them."""
        rows = min(self.part_rows, 1024) if self.engine == "ray" else self.part_rows
        return -(-rows // self.batch_size) * self.batch_size

    @property
    def splits(self) -> bool:
        """Ray: whether CPU tasks decode for the workers (then a worker only encodes and searches: 1 thread)."""
        return self.split_decode if self.split_decode is not None else self.gpus_per_worker > 0

    def score_options(self) -> dict:
        return {"top_k": self.top_k, "exclude_seen": self.exclude_seen, "min_score": self.min_score}


@dataclass
class BatchOutcome:
    """What a run did. `listed`: inputs named; `skipped`: already in the output (or named twice);
    `scored`/`failed`: rows written by this run / of which errors; `first_result_s`: from the start
    of scoring to the first result (the engine's start-up); `workers`: Ray actors."""

    output: str
    engine: str
    listed: int = 0
    skipped: int = 0
    scored: int = 0
    failed: int = 0
    parts: int = 0
    seconds: float = 0.0
    first_result_s: float | None = None
    workers: int | None = None
    notes: list[str] = field(default_factory=list)


def run_settings(clf: Classifier, request: BatchRequest) -> RunSettings:
    config = request.classifier
    return RunSettings(index=str(config.index), labels=len(clf.index), image_model=clf.encoder.name,
                       image_model_sha256=clf.encoder.spec.sha256, top_k=request.top_k,
                       top_t=query_top_t(clf.index.meta, config.top_t),
                       exclude_seen=request.exclude_seen,
                       projection=str(config.projection) if config.projection else None,
                       min_score=request.min_score, seen_gate=config.seen_gate, zsclf=__version__,
                       index_files=", ".join(f"{name} crc32 {check.crc32}"
                                             for name, check in sorted((clf.index.meta.files or {}).items())))


def input_key(path: str) -> str:
    """What makes two inputs one: the path as Arrow stores it, a local one made absolute against the working
    folder (`a.jpg`, `./a.jpg` and `$PWD/a.jpg` are one input; the output keeps the path as it was given)."""
    text = arrow_text(path)
    return text if uri.is_uri(text) else os.path.abspath(text)


def pending(inputs: Iterable[str], written: Iterable[str]) -> tuple[list[str], int, int]:
    """(inputs still to score, in order and each once; how many were listed; how many are skipped), given the
    paths already `written` (see `input_key`)."""
    todo, listed, done = [], 0, {input_key(path) for path in written}
    for path in inputs:
        listed += 1
        key = input_key(path)
        if key not in done:
            done.add(key)
            todo.append(path)
    return todo, listed, listed - len(todo)


def resolved(request: BatchRequest) -> BatchRequest:
    """The request with the classifier's files as absolute paths (the same on every worker)."""
    config = request.classifier
    index = Path(config.index or locations.default_index_dir()).absolute()
    projection = Path(config.projection).absolute() if config.projection else None
    return dataclasses.replace(request, classifier=dataclasses.replace(config, index=index, projection=projection,
                                                                       max_k=request.top_k))


def run_batch(request: BatchRequest, progress: Progress | None = None,
              stdin: Iterable[bytes | str] | None = None) -> BatchOutcome:
    """Score every image the inputs name that the output does not hold yet; see `zsclf batch`."""
    request = resolved(request)
    if request.engine == "ray":
        from .ray_engine import import_ray

        import_ray(request.address)  # a missing extra is an error before any work
    config = request.classifier
    # the driver's classifier checks index, models and projection before any work (on the CPU for Ray)
    clf = Classifier.from_config(config if request.engine == "local" else dataclasses.replace(config, device="cpu"))
    with open_sink(request.output, run_settings(clf, request), request.part_rows) as sink:
        return _score(request, clf, sink, progress, stdin)


def _score(request: BatchRequest, clf: Classifier, sink: PartSink, progress: Progress | None,
           stdin: Iterable[bytes | str] | None) -> BatchOutcome:
    todo, listed, skipped = pending(list_paths(request.inputs, request.path_column, stdin), sink.done)
    if not listed:
        raise ZsclfError("no images found in the inputs")
    outcome = BatchOutcome(request.output, request.engine, listed, skipped)
    advance = counter(progress, "scoring", len(todo)) if todo else None
    start = time.perf_counter()

    def write(table) -> None:
        if outcome.first_result_s is None:
            outcome.first_result_s = time.perf_counter() - start
        sink.add(table)
        if advance:
            advance(table.num_rows)

    try:
        if todo and request.engine == "local":
            from .local import run_local

            run_local(clf, todo, request, write)
        elif todo:
            del clf
            from .ray_engine import run_ray

            outcome.workers, outcome.notes = run_ray(todo, request, write)
    finally:
        sink.flush()  # what was scored is kept when a run stops early (Ctrl-C, a failed worker)
    outcome.seconds = time.perf_counter() - start
    outcome.scored, outcome.failed, outcome.parts = sink.rows, sink.failed, sink.parts
    return outcome
