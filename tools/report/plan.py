"""The report's experiments as data: each measurement key and the exact command (every option) behind it.

Command arguments may hold placeholders: `{data}` (the evaluation data folder), `{out}` (the step's own
output in the work folder) and `{KEY}` for another step's output path (an index, a trained projection, a
written input file), which is produced first.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from . import inputs, splits

KS = ("@1", "@2", "@5", "@10", "@20")
TOP_TS = (1, 5, 10, 20)  # ConSE top-t values compared on the 1K labels
DEFAULT_TOP_T = 10
GATES = (0.3, 0.5)
SHOTS = (1, 5, 20)
SPACES = ("visual", "text")
TAUGHT_SHOTS = 5  # photos per label in the mixed indexes
IMAGENET = "{data}/imagenet-sample/labels.tsv"
FLOWERS = "{data}/flowers12/labels.tsv"
LABELS_1K = "labels/imagenet1k.tsv"
EVAL_KEYS = ("images", "evaluated", "hit")
HEDGE_PS = (0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 0.97, 0.99)  # the accuracy-information-gain curve
HEDGE_SETS = ("imagenet-b", "birds-test", "flowers-test")  # held out from the shipped hedging fit
PLACEHOLDER = re.compile(r"\{([^{}]+)\}")


@dataclass(frozen=True)
class Limits:
    """How many images the speed measurements use."""

    bench: int
    baseline: int
    bench_extra: tuple[str, ...] = ()
    serve_seconds: int = 60  # the 8-client soak of `zsclf serve`


FULL = Limits(bench=320, baseline=320)
QUICK = Limits(bench=64, baseline=64, bench_extra=("--repeats", "1", "--cold-runs", "2"), serve_seconds=10)


@dataclass(frozen=True)
class Measure:
    """A command whose JSON output is the measurement."""

    argv: tuple[str, ...]
    expect: tuple[str, ...] = ()
    ok_codes: tuple[int, ...] = (0,)


@dataclass(frozen=True)
class Build:
    """A command that writes `out` (an index folder, a projection file); the step's value is that path."""

    argv: tuple[str, ...]
    out: str


@dataclass(frozen=True)
class Write:
    """An input file the report writes itself from the data folder (a label list, a split manifest)."""

    out: str
    text: Callable[[Path], str] = field(compare=False)


Step = Measure | Build | Write


@dataclass(frozen=True)
class Plan:
    """Every step by key, plus the run's sizes."""

    steps: dict[str, Step]
    limits: Limits
    seeds: tuple[int, ...]
    quick: bool


def refs(step: Step) -> list[str]:
    """The keys of the steps this one needs first (its `{KEY}` placeholders)."""
    argv = () if isinstance(step, Write) else step.argv
    return [m for token in argv for m in PLACEHOLDER.findall(token) if m not in ("data", "out")]


def evaluate(data: str, *options: str) -> Measure:
    """`zsclf eval DATA OPTIONS --json -q`; exit 1 (some images failed) is kept and counted."""
    return Measure(("zsclf", "eval", data, *options, "--json", "-q"), EVAL_KEYS, ok_codes=(0, 1))


def build_index(name: str, *options: str) -> tuple[str, Build]:
    """`zsclf build-index OPTIONS -o WORK/index-NAME -q` under the key `index:NAME`."""
    return f"index:{name}", Build(("zsclf", "build-index", *options, "-o", "{out}", "-q"), f"index-{name}")


def imagenet_key(labels: str, top_t: int = DEFAULT_TOP_T) -> str:
    """The ImageNet sample against the 1K labels ('1k') or the default 21K index ('21k') with ConSE top-t."""
    return f"eval:imagenet-{labels}-t{top_t}"


def gate_key(labels: str, gate: float) -> str:
    """The ImageNet sample with `--seen-gate GATE`, 1K labels ('1k') or the 21K index ('21k')."""
    return f"eval:imagenet-{labels}-gate{gate}"


def fewshot_key(space: str, shots: int, seed: int) -> str:
    """Flowers test photos against an index taught by SHOTS train photos per species (draw SEED) in SPACE."""
    return f"eval:fs-{space}-{shots}-{seed}"


def accuracy_steps() -> Iterable[tuple[str, Step]]:
    """ImageNet sample (1K/21K labels, visual space, top-t sweep, seen gate) and flowers (12 species, 21K)."""
    yield build_index("imagenet1k", LABELS_1K)
    yield build_index("imagenet1k-visual", LABELS_1K, "--space", "visual")
    for top_t in TOP_TS:
        yield imagenet_key("1k", top_t), evaluate(IMAGENET, "--index", "{index:imagenet1k}",
                                                  *(["--top-t", str(top_t)] if top_t != DEFAULT_TOP_T else []))
    yield imagenet_key("21k"), evaluate(IMAGENET)
    yield "eval:imagenet-1k-visual", evaluate(IMAGENET, "--index", "{index:imagenet1k-visual}")
    for gate in GATES:
        yield gate_key("1k", gate), evaluate(IMAGENET, "--index", "{index:imagenet1k}", "--seen-gate", str(gate))
        yield gate_key("21k", gate), evaluate(IMAGENET, "--seen-gate", str(gate))
    yield "file:species", Write("flowers12-species.tsv", inputs.species_tsv)
    yield build_index("flowers12", "{file:species}")
    yield "eval:flowers-12", evaluate(FLOWERS, "--only", "test/", "--index", "{index:flowers12}")
    yield "eval:flowers-21k", evaluate(FLOWERS, "--only", "test/")


def own_labels_steps() -> Iterable[tuple[str, Step]]:
    """`zsclf eval --labels`, plain and corrected, per kind of label set (benchmarks/own_labels_eval.py)."""
    yield "own-labels", Measure(("benchmarks/own_labels_eval.py", "--json"), expect=("sets",))


def speed_steps(limits: Limits) -> Iterable[tuple[str, Step]]:
    """`zsclf benchmark`, the PyTorch-eager baseline script and `zsclf serve` over loopback."""
    yield "benchmark", Measure(("zsclf", "benchmark", "{data}/imagenet-sample", "--limit", str(limits.bench),
                                *limits.bench_extra, "--json"), expect=("runs",))
    yield "baseline", Measure(("benchmarks/baseline_torch.py", "{data}/imagenet-sample",
                               "--limit", str(limits.baseline), "--json"))
    yield "serve", Measure(("benchmarks/serve_bench.py", "--photos", "10000", "--requests", "200", "--clients", "8",
                            "--seconds", str(limits.serve_seconds)), expect=("predict", "search", "soak"))


def fewshot_steps(seeds: tuple[int, ...], epochs: int) -> Iterable[tuple[str, Step]]:
    """Photo-taught flowers (shots x space x seed), DeViSE, text->visual map, mixed indexes."""
    yield "file:train", Write("flowers-train.tsv", partial(inputs.split_manifest, split="train"))
    yield "file:test", Write("flowers-test.tsv", partial(inputs.split_manifest, split="test"))
    yield "file:train-first-half", Write("flowers-train-first-half.tsv",
                                         partial(inputs.split_manifest, split="train", part="first"))
    yield "file:species-second-half", Write("flowers12-second-half.tsv", partial(inputs.species_tsv, part="second"))
    for shots in SHOTS:
        for space in SPACES:
            for seed in seeds:
                name = f"fs-{space}-{shots}-{seed}"
                yield build_index(name, "--examples", "{file:train}", "--shots", str(shots), "--seed", str(seed),
                                  "--space", space)
                yield fewshot_key(space, shots, seed), evaluate("{file:test}", "--index", f"{{index:{name}}}")
    # the species file has names only, so its index embeds names: DeViSE trains towards the same template
    yield "devise", Build(("zsclf", "train", IMAGENET, "-o", "{out}", "--val-fraction", "0", "--epochs", str(epochs),
                           "--template", "name", "-q"), "devise-imagenet-sample.npz")
    # a DeViSE projection needs a plain index: a label-prior corrected one is fitted for ConSE queries
    yield build_index("flowers12-plain", "{file:species}", "--label-prior", "off")
    yield "eval:fs-devise", evaluate("{file:test}", "--index", "{index:flowers12-plain}", "--projection", "{devise}")
    yield build_index("fs-t2v", "{file:species}", "--space", "visual")
    yield "eval:fs-t2v", evaluate("{file:test}", "--index", "{index:fs-t2v}")
    yield build_index("fs-mixed12", "{file:species-second-half}", "--examples", "{file:train-first-half}",
                      "--shots", str(TAUGHT_SHOTS), "--space", "visual")
    yield "eval:fs-mixed12", evaluate("{file:test}", "--index", "{index:fs-mixed12}")
    yield build_index("fs-mixed1k", LABELS_1K, "--examples", "{file:train}", "--shots", str(TAUGHT_SHOTS),
                      "--space", "visual")
    yield "eval:fs-mixed1k-flowers", evaluate("{file:test}", "--index", "{index:fs-mixed1k}")
    yield "eval:fs-mixed1k-imagenet", evaluate(IMAGENET, "--index", "{index:fs-mixed1k}")


def hedge_key(name: str) -> str:
    """A held-out hedging set (HEDGE_SETS) with `--hedge P` for every P of the curve."""
    return f"eval:hedge-{name}"


def hedging_steps() -> Iterable[tuple[str, Step]]:
    """Hedged answers, novelty and calibrated stacking on photos held out from the shipped fit (report/splits.py),
    the refit of the shipped defaults, and calibrated stacking in a GZSL label space (1K + unseen species)."""
    for name in ("fit", "heldout", *HEDGE_SETS):
        yield f"file:hedge-{name}", Write(f"hedge-{name}.tsv", partial(splits.manifest, name=name))
    hedge = [arg for p in HEDGE_PS for arg in ("--hedge", str(p))]
    for name in HEDGE_SETS:
        yield hedge_key(name), evaluate(f"{{file:hedge-{name}}}", *hedge)
    yield "eval:hedge-heldout", evaluate("{file:hedge-heldout}")
    yield "hedge-refit", Build(("zsclf", "calibrate", "{file:hedge-fit}", "-o", "{out}", "-q"), "hedging-refit.json")
    yield "file:gzsl-labels", Write("gzsl-labels.tsv", splits.gzsl_labels)
    yield build_index("gzsl", "{file:gzsl-labels}")
    # stores the fit (and its seen penalty) in that index: the section runs it before eval:gzsl-heldout
    yield "calibrate:gzsl", Measure(("zsclf", "calibrate", "{file:hedge-fit}", "--index", "{index:gzsl}", "--json",
                                     "-q"), expect=("fit",))
    yield "eval:gzsl-heldout", evaluate("{file:hedge-heldout}", "--index", "{index:gzsl}")


def unique(pairs: Iterable[tuple[str, Step]]) -> dict[str, Step]:
    """The pairs as a dict; ValueError on a key given twice (a dict would silently keep the last)."""
    steps: dict[str, Step] = {}
    for key, step in pairs:
        if key in steps:
            raise ValueError(f"plan: key {key!r} given twice")
        steps[key] = step
    return steps


def make_plan(quick: bool = False) -> Plan:
    """The full plan; `quick` shrinks the speed runs, the seeds and the DeViSE epochs."""
    limits = QUICK if quick else FULL
    seeds = (0,) if quick else (0, 1, 2, 3, 4)
    steps = unique([*accuracy_steps(), *own_labels_steps(), *speed_steps(limits),
                    *fewshot_steps(seeds, 20 if quick else 100), *hedging_steps()])
    return Plan(steps=steps, limits=limits, seeds=seeds, quick=quick)
