"""Regenerate docs/results.md and the charts in docs/img/ by running zsclf's own commands.

Every number in the report comes from `zsclf eval`, `zsclf benchmark` and
`benchmarks/baseline_torch.py`, run in this invocation; this script only formats them.

    .venv/bin/python tools/make_report.py [--out docs/results.md] [--only SECTION] [--quick]

The report is a list of sections (`SECTIONS`): functions taking the run's `Context` and
returning markdown. To add one, write `section_<name>(ctx) -> str` and put it in the list;
`--only <name>` then regenerates just that section inside an existing report. Measurements are
memoised on the context, so sections that share one (the charts, say) run it once.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
KS = ("@1", "@2", "@5", "@10", "@20")
TOP_TS = (1, 5, 10, 20)  # ConSE top-t values compared on the 1K labels; 10 is the default
DEFAULT_TOP_T = 10
GATES = (0.3, 0.5)
REGENERATE = "make report"
TOLERANCE = 0.01  # "within 1 point"


class ReportError(RuntimeError):
    """A command the report depends on failed, or its output was not what we expect."""


@dataclass(frozen=True)
class Limits:
    """How many images the speed measurements use."""

    bench: int
    baseline: int
    bench_extra: tuple[str, ...] = ()


FULL = Limits(bench=320, baseline=320)
QUICK = Limits(bench=64, baseline=64, bench_extra=("--repeats", "1", "--cold-runs", "2"))


@dataclass
class Context:
    """Everything the sections share: paths, limits, a work folder and memoised measurements."""

    data: Path
    work: Path
    out: Path
    limits: Limits
    quick: bool
    memo: dict[str, Any] = field(default_factory=dict)

    def once(self, key: str, compute: Callable[[], Any]) -> Any:
        """Return the memoised value for `key`, computing it on first use."""
        if key not in self.memo:
            self.memo[key] = compute()
        return self.memo[key]

    @property
    def img_dir(self) -> Path:
        """Where the charts go: img/ next to the report."""
        return self.out.parent / "img"


# --------------------------------------------------------------------------- commands


def rel(path: Path) -> str:
    """A path as shown in the report and passed to commands: relative to the repository root when it
    lies beside it (`labels/...`, `../shared/data/...`), else absolute (a temp folder)."""
    path = Path(path).resolve()
    return os.path.relpath(path, ROOT) if path.is_relative_to(ROOT.parent) else str(path)


def log(message: str) -> None:
    """Progress on stderr (stdout stays free)."""
    print(f"[make_report] {message}", file=sys.stderr, flush=True)


def run_command(argv: list[str], ok_codes: tuple[int, ...] = (0,), parse_json: bool = True) -> dict[str, Any]:
    """Run one command in the repository root; return its JSON output (plus `_exit_code`).

    Raises ReportError with the command's stderr when it exits with a code outside `ok_codes`
    or its stdout is not a JSON object.
    """
    shown = " ".join(argv[1:] if argv[0] == sys.executable else argv)
    log(f"run: {shown}")
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    log(f"  exit {proc.returncode} after {seconds:.1f} s")
    if proc.returncode not in ok_codes:
        raise ReportError(f"command failed (exit {proc.returncode}): {shown}\n--- stderr ---\n{proc.stderr.strip()}")
    if not parse_json:
        return {"_exit_code": proc.returncode, "_seconds": seconds}
    if not proc.stdout.strip():
        raise ReportError(f"{shown}: exit {proc.returncode} but no output (is the package being edited?)\n"
                          f"--- stderr ---\n{proc.stderr.strip()}")
    try:
        result = json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        raise ReportError(f"{shown}: stdout is not JSON ({exc})\n--- stdout ---\n{proc.stdout[:2000]}\n"
                          f"--- stderr ---\n{proc.stderr.strip()}") from None
    if not isinstance(result, dict):
        raise ReportError(f"{shown}: expected a JSON object, got {type(result).__name__}")
    result["_exit_code"] = proc.returncode
    result["_seconds"] = seconds
    return result


def zsclf(*args: str, ok_codes: tuple[int, ...] = (0,), parse_json: bool = True) -> dict[str, Any]:
    """Run `python -m zsclf.cli ARGS` with this interpreter."""
    return run_command([sys.executable, "-m", "zsclf.cli", *args], ok_codes=ok_codes, parse_json=parse_json)


def git(*args: str) -> str:
    """Output of a git command in the repository, stripped ('' if git is unavailable)."""
    proc = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
    return proc.stdout.strip() if proc.returncode == 0 else ""


# --------------------------------------------------------------------------- measurements


def imagenet_manifest(ctx: Context) -> Path:
    """The ImageNet sample's manifest (header: path, class_index, wnid, name)."""
    return ctx.data / "imagenet-sample" / "labels.tsv"


def flowers_manifest(ctx: Context) -> Path:
    """The flowers manifest (no header: path, label, wnid)."""
    return ctx.data / "flowers12" / "labels.tsv"


def evaluate(ctx: Context, key: str, data: Path, *options: str) -> dict[str, Any]:
    """`zsclf eval DATA OPTIONS --json` (memoised). Exit 1 = some images failed: kept, counted."""
    def compute() -> dict[str, Any]:
        result = zsclf("eval", rel(data), *options, "--json", "-q", ok_codes=(0, 1))
        for needed in ("images", "evaluated", "hit"):
            if needed not in result:
                raise ReportError(f"zsclf eval {key}: JSON has no {needed!r} key")
        return result
    return ctx.once(f"eval:{key}", compute)


def build_index(ctx: Context, key: str, labels: Path) -> Path:
    """`zsclf build-index LABELS -o WORK/index-KEY -q` (memoised); returns the index folder."""
    def compute() -> Path:
        folder = ctx.work / f"index-{key}"
        zsclf("build-index", rel(labels), "-o", str(folder), "-q", parse_json=False)
        return folder
    return ctx.once(f"index:{key}", compute)


def index_1k(ctx: Context) -> Path:
    """An index of the 1,000 ImageNet-1K labels (default template)."""
    return build_index(ctx, "imagenet1k", ROOT / "labels" / "imagenet1k.tsv")


def flower_species(ctx: Context) -> dict[str, str]:
    """WNID -> species name, the unique pairs in flowers12/labels.tsv (path, label, wnid; no header)."""
    def compute() -> dict[str, str]:
        species: dict[str, str] = {}
        with flowers_manifest(ctx).open(newline="", encoding="utf-8") as handle:
            for row in csv.reader(handle, delimiter="\t"):
                if len(row) >= 3:
                    species.setdefault(row[2].strip(), row[1].strip())
        if not species:
            raise ReportError(f"{flowers_manifest(ctx)}: no (path, label, wnid) rows")
        return dict(sorted(species.items(), key=lambda item: item[1]))
    return ctx.once("flower_species", compute)


def index_flowers(ctx: Context) -> Path:
    """An index of the flower species only (a `wnid name` TSV written to the work folder)."""
    labels = ctx.work / "flowers12-species.tsv"
    lines = ["wnid\tname"] + [f"{wnid}\t{name}" for wnid, name in flower_species(ctx).items()]
    labels.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return build_index(ctx, "flowers12", labels)


def eval_imagenet(ctx: Context, labels: str, top_t: int = DEFAULT_TOP_T) -> dict[str, Any]:
    """The ImageNet sample against the 1K labels ('1k') or the default 21K index ('21k')."""
    options = ["--index", str(index_1k(ctx))] if labels == "1k" else []
    if top_t != DEFAULT_TOP_T:
        options += ["--top-t", str(top_t)]
    return evaluate(ctx, f"imagenet-{labels}-t{top_t}", imagenet_manifest(ctx), *options)


def eval_flowers(ctx: Context, labels: str) -> dict[str, Any]:
    """The flowers test split against the 12 species ('12') or the default 21K index ('21k')."""
    options = ["--index", str(index_flowers(ctx))] if labels == "12" else []
    return evaluate(ctx, f"flowers-{labels}", flowers_manifest(ctx), "--only", "test/", *options)


def benchmark(ctx: Context) -> dict[str, Any]:
    """`zsclf benchmark imagenet-sample --limit N --json` (memoised)."""
    def compute() -> dict[str, Any]:
        result = zsclf("benchmark", rel(ctx.data / "imagenet-sample"), "--limit", str(ctx.limits.bench),
                       *ctx.limits.bench_extra, "--json")
        if not result.get("runs"):
            raise ReportError("zsclf benchmark: JSON has no runs")
        return result
    return ctx.once("benchmark", compute)


def baseline(ctx: Context) -> dict[str, Any]:
    """`benchmarks/baseline_torch.py --limit N --json` (memoised)."""
    return ctx.once("baseline", lambda: run_command(
        [sys.executable, "benchmarks/baseline_torch.py", rel(ctx.data / "imagenet-sample"),
         "--limit", str(ctx.limits.baseline), "--json"]))


def imagenet_names(ctx: Context) -> dict[str, str]:
    """WNID -> class name for the ImageNet sample (for naming unmatched WNIDs)."""
    def compute() -> dict[str, str]:
        with imagenet_manifest(ctx).open(newline="", encoding="utf-8") as handle:
            return {row["wnid"]: row["name"] for row in csv.DictReader(handle, delimiter="\t")}
    return ctx.once("imagenet_names", compute)


# --------------------------------------------------------------------------- formatting


def pct(value: float | None) -> str:
    """0.8861 -> '88.6'; None -> '–'."""
    return "–" if value is None else f"{100 * value:.1f}"


def points(value: float) -> str:
    """A signed difference in percentage points: -0.017 -> '−1.7 pt'."""
    return f"{100 * value:+.1f} pt".replace("-", "−")


def verdict(met: bool) -> str:
    """Bold 'met' / 'not met'."""
    return "**met**" if met else "**not met**"


def table(header: list[str], rows: list[list[str]], align: str = "") -> str:
    """A markdown table; `align` is one letter per column (l/r), default: first left, rest right."""
    align = align or "l" + "r" * (len(header) - 1)
    rule = ["---" if a == "l" else "---:" for a in align]
    lines = [header, rule, *rows]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)


def at_k(result: dict[str, Any], metric: str) -> list[str]:
    """The report's cells for `metric` ('hit' or 'hp') at each k in KS ('–' where absent)."""
    values = result.get(metric) or {}
    return [pct(values.get(k)) for k in KS]


def unmatched_note(result: dict[str, Any], names: dict[str, str]) -> str:
    """'' or a sentence listing the ground-truth WNIDs the index has no label for."""
    missing = result.get("unmatched") or {}
    if not missing:
        return ""
    items = ", ".join(f"`{wnid}` {names.get(wnid, '?')} ({count})" for wnid, count in sorted(missing.items()))
    photos = sum(missing.values())
    return (f"{photos} photo{'s' if photos != 1 else ''} of {len(missing)} class{'es' if len(missing) != 1 else ''} "
            f"not in this index, so not scored (`unmatched`): {items}.")


def failed_note(result: dict[str, Any]) -> str:
    """'' or a sentence about images that failed to decode (eval exit code 1)."""
    failed = result.get("failed", 0)
    if not failed and result.get("_exit_code", 0) == 0:
        return ""
    return f"{failed} image(s) failed to decode (eval exit code {result.get('_exit_code')}); they are not scored."


def coverage(result: dict[str, Any]) -> str:
    """'999 of 1000 photos scored'."""
    return f"{result['evaluated']:,} of {result['images']:,} photos scored"


def notes(*sentences: str) -> str:
    """Non-empty sentences as a bullet list."""
    return "\n".join(f"- {s}" for s in sentences if s)


# --------------------------------------------------------------------------- sections


def section_header(ctx: Context) -> str:
    """Title, date, commit, machine and how to regenerate."""
    commit = f"`{git('rev-parse', '--short', 'HEAD') or 'unknown'}`"
    if git("status", "--porcelain", "--untracked-files=no"):
        commit += " (with uncommitted changes)"
    machine = benchmark(ctx)["machine"]
    machine_text = ", ".join(f"{key} {value}" for key, value in machine.items())
    devices = "; ".join(", ".join(f"{k}: {v}" for k, v in run["device"].items()) for run in benchmark(ctx)["runs"])
    lines = [
        "# zsclf results",
        "",
        f"- Date: {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- Commit: {commit}",
        f"- Machine: {machine_text} (devices: {devices})",
        f"- Regenerate: `{REGENERATE}` (runs `tools/make_report.py`; every number below is measured by that run)",
    ]
    if ctx.quick:
        lines.append(f"- **Quick run** (`--quick`): speed measured on {ctx.limits.bench} images only; "
                     "do not quote these speed numbers.")
    return "\n".join(lines)


def section_imagenet(ctx: Context) -> str:
    """ImageNet sample: hit@k / hp@k with 1K and 21K labels, CNN softmax ceiling, top-t sweep, targets."""
    r1k, r21k = eval_imagenet(ctx, "1k"), eval_imagenet(ctx, "21k")
    visual = ctx.once("index:imagenet1k-visual", lambda: build_examples(
        ctx, "imagenet1k-visual", str(ROOT / "labels" / "imagenet1k.tsv"), "--space", "visual"))
    v1k = evaluate(ctx, "imagenet-1k-visual", imagenet_manifest(ctx), "--index", str(visual))
    soft = r1k.get("cnn_softmax") or {}
    soft_hit = soft.get("hit", {})
    rows = [
        [f"1K labels ({r1k['labels_in_index']:,})", "hit@k", *at_k(r1k, "hit")],
        [f"1K labels ({r1k['labels_in_index']:,})", "hp@k", *at_k(r1k, "hp")],
        ["1K labels, visual space", "hit@k", *at_k(v1k, "hit")],
        ["1K labels, visual space", "hp@k", *at_k(v1k, "hp")],
        [f"21K labels ({r21k['labels_in_index']:,})", "hit@k", *at_k(r21k, "hit")],
        [f"21K labels ({r21k['labels_in_index']:,})", "hp@k", *at_k(r21k, "hp")],
        ["CNN softmax (1K classes, reference ceiling)", "top-k",
         *[pct(soft_hit.get(k)) for k in KS]],
    ]
    main = table(["labels", "metric", *KS], rows, "ll" + "r" * len(KS))

    sweep_rows = []
    for top_t in TOP_TS:
        result = eval_imagenet(ctx, "1k", top_t)
        name = f"{top_t} (default)" if top_t == DEFAULT_TOP_T else str(top_t)
        sweep_rows.append([name, pct(result["hit"]["@1"]), pct(result["hit"]["@5"])])
    sweep_rows.append(["CNN softmax", pct(soft_hit.get("@1")), pct(soft_hit.get("@5"))])
    sweep = table(["top-t", "hit@1", "hit@5"], sweep_rows)

    gate_rows = []
    for gate in GATES:
        for labels, index in (("1K", ["--index", str(index_1k(ctx))]), ("21K", [])):
            g = evaluate(ctx, f"imagenet-{labels}-gate{gate}", imagenet_manifest(ctx), *index, "--seen-gate", str(gate))
            gate_rows.append([f"{gate}", labels, pct(g["hit"]["@1"]), pct(g["hit"]["@5"]), pct(g["hp"]["@5"])])
    for labels, r in (("1K", r1k), ("21K", r21k)):
        gate_rows.append(["off (default)", labels, pct(r["hit"]["@1"]), pct(r["hit"]["@5"]), pct(r["hp"]["@5"])])
    gated_1k = evaluate(ctx, f"imagenet-1K-gate{GATES[0]}", imagenet_manifest(ctx))
    gap1 = r1k["hit"]["@1"] - soft_hit["@1"]
    gap5 = r1k["hit"]["@5"] - soft_hit["@5"]
    return "\n\n".join([
        "## ImageNet sample: 1,000 photos, one per class",
        f"`zsclf eval {rel(imagenet_manifest(ctx))}` against an index of `labels/imagenet1k.tsv` "
        "(built by this run with the default template) and against the default ImageNet-21K index. "
        "Percent; hp@k is hierarchical precision@k over WordNet; the CNN softmax row is the image model's own "
        f"top-1/top-5 on its 1,000 training classes ({soft.get('images', 0):,} photos), the ceiling for seen classes.",
        main,
        notes(f"1K labels: {coverage(r1k)}. {unmatched_note(r1k, imagenet_names(ctx))}".strip(),
              f"21K labels: {coverage(r21k)}. {unmatched_note(r21k, imagenet_names(ctx))}".strip(),
              failed_note(r1k), failed_note(r21k)),
        "### Targets (1K labels)",
        notes(f"hit@1 within 1 point of softmax top-1: {pct(r1k['hit']['@1'])} vs {pct(soft_hit['@1'])} "
              f"({points(gap1)}): {verdict(gap1 >= -TOLERANCE)}",
              f"hit@5 within 1 point of softmax top-5: {pct(r1k['hit']['@5'])} vs {pct(soft_hit['@5'])} "
              f"({points(gap5)}): {verdict(gap5 >= -TOLERANCE)}",
              f"In the visual space (`build-index --space visual`: a seen class is its classifier row) the 1K "
              f"labels give hit@1 {pct(v1k['hit']['@1'])} and hit@5 {pct(v1k['hit']['@5'])} "
              f"({points(v1k['hit']['@5'] - soft_hit['@5'])} vs softmax top-5): the hit@5 target is "
              f"{'met' if v1k['hit']['@5'] - soft_hit['@5'] >= -TOLERANCE else 'not met'} there, at the cost of "
              "hierarchical precision (its second-best answers are visually, not semantically, close). ConSE "
              "stays the default: its ranking follows the label embeddings, whose neighbours crowd out the CNN's "
              "runners-up."),
        "### ConSE top-t (1K labels)",
        "How many of the CNN's top seen classes are mixed into the query (`--top-t`).",
        sweep,
        "### Novelty gate (`--seen-gate P`, Socher et al. 2013)",
        "An image whose top softmax probability reaches P is taken to show a seen class and gets the CNN's "
        "own classes, in its order; the others keep ConSE's answers.",
        table(["gate", "labels", "hit@1", "hit@5", "hp@5"], gate_rows, "llrrr"),
        notes(f"With `--seen-gate {GATES[0]}` the 1K labels reach hit@5 {pct(gated_1k['hit']['@5'])} "
              f"({points(gated_1k['hit']['@5'] - soft_hit['@5'])} vs softmax top-5: "
              f"{'within' if gated_1k['hit']['@5'] - soft_hit['@5'] >= -TOLERANCE else 'outside'} the 1-point "
              "target) at the cost of hierarchical precision; the gate stays off by default."),
    ])


def section_flowers(ctx: Context) -> str:
    """Flowers test split: 12-way zero-shot and against the 21K labels."""
    species = flower_species(ctx)
    r12, r21k = eval_flowers(ctx, "12"), eval_flowers(ctx, "21k")
    n = len(species)
    rows = [
        [f"{n} species", "hit@k", *at_k(r12, "hit")],
        [f"{n} species", "hp@k", *at_k(r12, "hp")],
        [f"{n} species", f"chance (k/{n})", *[pct(int(k[1:]) / n) if int(k[1:]) <= n else "–" for k in KS]],
        [f"21K labels ({r21k['labels_in_index']:,})", "hit@k", *at_k(r21k, "hit")],
        [f"21K labels ({r21k['labels_in_index']:,})", "hp@k", *at_k(r21k, "hp")],
    ]
    soft = r12.get("cnn_softmax") or {}
    soft_note = ""
    if soft:
        soft_note = (f"CNN softmax on the {soft['images']} photos of its one seen flower class: "
                     f"top-1 {pct(soft['hit'].get('@1'))}, top-5 {pct(soft['hit'].get('@5'))}.")
    confusions = r12.get("confusions") or []
    top_confusions = ", ".join(f"{c['true']} → {c['predicted']} ({c['count']})" for c in confusions[:4])
    return "\n\n".join([
        f"## Flowers: {r12['images']} test photos, {n} species",
        f"`zsclf eval {rel(flowers_manifest(ctx))} --only test/` against an index of just the {n} species "
        "(the unique `wnid`/label pairs of that file, written to a `wnid name` TSV and built by this run; "
        "the file has no glosses, so the index embeds the bare names, template `name`) and against the default "
        "ImageNet-21K index. Only *daisy* is one of the CNN's 1,000 training classes; the others are unseen. "
        "Percent.",
        table(["labels", "metric", *KS], rows, "ll" + "r" * len(KS)),
        notes(f"{n} species: {coverage(r12)}.",
              f"21K labels: {coverage(r21k)}. {unmatched_note(r21k, species)}".strip(),
              f"Most frequent {n}-way confusions: {top_confusions}." if top_confusions else "",
              soft_note, failed_note(r12), failed_note(r21k)),
    ])


STAGES = ("decode_preprocess", "decode_preprocess_1_thread", "encoder", "projection", "search", "end_to_end")


def run_name(run: dict[str, Any]) -> str:
    """'encoder cpu, search cpu' for a benchmark run."""
    return ", ".join(f"{k} {v}" for k, v in run["device"].items())


def speed_tables(bench: dict[str, Any]) -> list[str]:
    """Throughput by stage, ratios and latencies: one column per benchmark run (device)."""
    runs = bench["runs"]
    header = ["", *[run_name(r) for r in runs]]
    stage_rows = [[f"{s} (images/s)", *[f"{r['images_per_s'][s]:,.1f}" for r in runs]]
                  for s in STAGES if s in runs[0]["images_per_s"]]
    ratio_rows = [[f"ratio {name}", *[f"{r['ratios'][name]:.2f}" for r in runs]] for name in runs[0]["ratios"]]
    other_rows = [
        ["batch-1 latency, median (ms)", *[f"{r['batch1_latency_ms']['median']:.1f}" for r in runs]],
        ["batch-1 latency, min (ms)", *[f"{r['batch1_latency_ms']['min']:.1f}" for r in runs]],
        ["cold start, median (s)", *[cold(r, "median_s") for r in runs]],
        ["cold start, min (s)", *[cold(r, "min_s") for r in runs]],
        ["index load (s)", *[f"{r['index_load_s']:.3f}" for r in runs]],
        ["peak RSS (MB)", *[f"{r['peak_rss_mb']:,.0f}" for r in runs]],
        ["images / batch size / threads / labels",
         *[f"{r['images']} / {r['batch_size']} / {r['threads']} / {r['labels']:,}" for r in runs]],
    ]
    return [table(header, stage_rows + ratio_rows + other_rows)]


def cold(run: dict[str, Any], key: str) -> str:
    """A cold-start figure, or '–' when cold starts were skipped."""
    value = (run.get("cold_start") or {}).get(key)
    return "–" if value is None else f"{value:.2f}"


def section_speed(ctx: Context) -> str:
    """Benchmark by stage, the PyTorch-eager baseline comparison, and the speed targets."""
    bench, base = benchmark(ctx), baseline(ctx)
    run = bench["runs"][0]
    e2e_vs_encoder = run["ratios"]["end_to_end_vs_encoder"]
    cold_median = (run.get("cold_start") or {}).get("median_s")
    base_rows = [
        ["images/s", f"{base['zsclf_images_per_s']:.1f}", f"{base['baseline_images_per_s']:.1f}"],
        ["hit@1 (21K labels)", pct(base["zsclf_hit1"]), pct(base["baseline_hit1"])],
    ]
    return "\n\n".join([
        "## Speed",
        f"`zsclf benchmark {rel(ctx.data / 'imagenet-sample')} --limit {ctx.limits.bench}"
        f"{' ' + ' '.join(ctx.limits.bench_extra) if ctx.limits.bench_extra else ''}` "
        "(default 21K index; each stage best of its repeats; cold start = one-image `zsclf predict` processes).",
        *speed_tables(bench),
        "### Against the PyTorch-eager baseline",
        f"`benchmarks/baseline_torch.py --limit {ctx.limits.baseline}`: the same weights in PyTorch eager mode "
        "with PIL preprocessing and a numpy search, timed in the same process on the same images "
        f"({base['images']} images, {base.get('threads', '?')} threads).",
        table(["", "zsclf", "PyTorch eager"], base_rows),
        notes(f"Speed-up {base['speedup']:.2f}×; top-1 agreement {pct(base['top1_agreement'])}%."),
        "### Targets",
        notes(f"End to end ≥ 2× the PyTorch-eager baseline: {base['speedup']:.2f}×: {verdict(base['speedup'] >= 2)}",
              f"End to end ≥ 80% of encoder-only throughput: {pct(e2e_vs_encoder)}% "
              f"({run['images_per_s']['end_to_end']:.1f} vs {run['images_per_s']['encoder']:.1f} images/s): "
              f"{verdict(e2e_vs_encoder >= 0.8)}",
              "Cold start ≤ 0.5 s median: " + ("not measured" if cold_median is None else
                                               f"{cold_median:.2f} s: {verdict(cold_median <= 0.5)}")),
    ])


def section_charts(ctx: Context) -> str:
    """The three PNG charts, drawn from the same measurements."""
    ctx.img_dir.mkdir(parents=True, exist_ok=True)
    charts = [
        ("hit_at_k.png", "hit@k", chart_hit_at_k),
        ("hp_at_k.png", "hp@k", chart_hp_at_k),
        ("throughput.png", "throughput", chart_throughput),
    ]
    lines = ["## Charts"]
    for filename, alt, draw in charts:
        path = ctx.img_dir / filename
        draw(ctx, path)
        lines.append(f"![{alt}]({os.path.relpath(path, ctx.out.parent)})")
    return "\n\n".join(lines)


def flowers_split_manifest(ctx: Context, split: str, species: list[str] | None = None) -> Path:
    """A manifest (path, label, wnid; absolute paths into ../shared/data) of one flowers split."""
    out = ctx.work / f"flowers-{split}{'-' + str(len(species)) if species else ''}.tsv"
    lines = ["path\tlabel\twnid"]
    with flowers_manifest(ctx).open(newline="", encoding="utf-8") as handle:
        for path, label, wnid in (row[:3] for row in csv.reader(handle, delimiter="\t") if len(row) >= 3):
            if path.startswith(split + "/") and (species is None or wnid in species):
                lines.append(f"{(ctx.data / 'flowers12' / path).resolve()}\t{label}\t{wnid}")
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out


def build_examples(ctx: Context, key: str, *options: str) -> Path:
    """`zsclf build-index OPTIONS -o WORK/index-KEY -q` (memoised)."""
    def compute() -> Path:
        folder = ctx.work / f"index-{key}"
        zsclf("build-index", *options, "-o", str(folder), "-q", parse_json=False)
        return folder
    return ctx.once(f"index:{key}", compute)


def devise_projection(ctx: Context) -> Path:
    """DeViSE trained on the ImageNet sample's 1,000 photos (one per class: no validation split)."""
    def compute() -> Path:
        out = ctx.work / "devise-imagenet-sample.npz"
        epochs = "20" if ctx.quick else "100"
        # the species file has names only, so its index embeds names: train towards the same template
        zsclf("train", rel(imagenet_manifest(ctx)), "-o", str(out), "--val-fraction", "0", "--epochs", epochs,
              "--template", "name", "-q", parse_json=False)
        return out
    return ctx.once("devise", compute)


def mean_hit(results: list[dict[str, Any]], k: str = "@1") -> tuple[float, float]:
    """Mean and spread of hit@k over several runs."""
    values = [r["hit"][k] for r in results]
    mean = sum(values) / len(values)
    return mean, (sum((v - mean) ** 2 for v in values) / len(values)) ** 0.5


def section_fewshot(ctx: Context) -> str:
    """Issue 5: photo-taught labels (1/5/20 shots), DeViSE, text->visual, mixed indexes, seen-class accuracy."""
    species = list(flower_species(ctx))
    train, test = flowers_split_manifest(ctx, "train"), flowers_split_manifest(ctx, "test")
    seeds = [0] if ctx.quick else [0, 1, 2, 3, 4]
    shots_rows, five_shot = [], 0.0
    for shots in (1, 5, 20):
        cells = []
        for space in ("visual", "text"):
            runs = [evaluate(ctx, f"fs-{space}-{shots}-{seed}", test, "--index", str(build_examples(
                ctx, f"fs-{space}-{shots}-{seed}", "--examples", str(train), "--shots", str(shots),
                "--seed", str(seed), "--space", space))) for seed in seeds]
            mean, spread = mean_hit(runs)
            five = mean_hit(runs, "@5")[0]
            cells += [f"{pct(mean)} ± {pct(spread)}", pct(five)]
            if space == "visual" and shots == 5:
                five_shot = mean
        shots_rows.append([str(shots), *cells])
    conse = eval_flowers(ctx, "12")
    species_tsv = ctx.work / "flowers12-species.tsv"
    t2v = evaluate(ctx, "fs-t2v", test, "--index", str(build_examples(ctx, "fs-t2v", str(species_tsv),
                                                                       "--space", "visual")))
    devise = evaluate(ctx, "fs-devise", test, "--index", str(index_flowers(ctx)),
                      "--projection", str(devise_projection(ctx)))
    zero_rows = [[name, *at_k(r, "hit")[:4]] for name, r in
                 (("ConSE (text space)", conse), ("DeViSE, trained on the 1,000 ImageNet-sample photos", devise),
                  ("text → visual ridge map (visual space)", t2v))]
    best_zero = max(devise["hit"]["@1"], t2v["hit"]["@1"])
    half = species[: len(species) // 2]
    taught = flowers_split_manifest(ctx, "train", half)
    other_half = ctx.work / "flowers12-other-half.tsv"
    names = flower_species(ctx)
    other_half.write_text("wnid\tname\n" + "".join(f"{w}\t{names[w]}\n" for w in species if w not in half))
    mixed12 = evaluate(ctx, "fs-mixed12", test, "--index", str(build_examples(
        ctx, "fs-mixed12", str(other_half), "--examples", str(taught), "--shots", "5", "--space", "visual")))
    mixed1k = build_examples(ctx, "fs-mixed1k", str(ROOT / "labels" / "imagenet1k.tsv"), "--examples", str(train),
                             "--shots", "5", "--space", "visual")
    mixed_flowers = evaluate(ctx, "fs-mixed1k-flowers", test, "--index", str(mixed1k))
    mixed_seen = evaluate(ctx, "fs-mixed1k-imagenet", imagenet_manifest(ctx), "--index", str(mixed1k))
    seen_conse = eval_imagenet(ctx, "1k")
    seen_rows = [[name, pct(r["hit"]["@1"]), pct(r["hit"]["@5"])] for name, r in
                 (("ConSE, text space, 1K labels", seen_conse),
                  ("visual space, 1K labels + 12 photo-taught flowers (5 shots)", mixed_seen))]
    seen_ok = mixed_seen["hit"]["@1"] >= seen_conse["hit"]["@1"] - 0.01
    return "\n\n".join([
        "## Photo-taught labels, DeViSE and the visual space",
        f"Flowers: example photos from `train/` (60 per species), scored on the {conse['images']} `test/` photos. "
        f"Photo-taught rows are the mean ± spread of hit@1 over {len(seeds)} seeded draws of the shots "
        "(`build-index --shots N --seed S`). Percent.",
        table(["photos per label", "visual hit@1", "visual hit@5", "text hit@1", "text hit@5"], shots_rows),
        notes(f"Target: ≥ 90% top-1 with 5 photos per label: {pct(five_shot)} — {verdict(five_shot >= 0.9)}. "
              "The visual space (prototypes of square-rooted, normalised CNN features) is the default for "
              "`--examples`; "
              "photos averaged in the text space through ConSE lose most of what tells species apart."),
        "### Zero-shot (no flower photos at all), 12-way",
        table(["method", *KS[:4]], zero_rows),
        notes(f"Target: at least double ConSE's top-1 ({pct(conse['hit']['@1'])}): best {pct(best_zero)} — "
              f"{verdict(best_zero >= 2 * conse['hit']['@1'])}. With MiniLM embeddings of names and glosses the "
              "unseen species stay near chance: the CNN sees 'daisy' or 'sunflower' in nearly every flower."),
        "### Mixed indexes (calibrated: per-label z-scores against the example photos and 1,000 seen-class rows)",
        table(["index", "scored on", "hit@1", "hit@5"], [
            [f"{len(half)} species photo-taught (5 shots) + {len(species) - len(half)} text-only",
             "flowers test", pct(mixed12["hit"]["@1"]), pct(mixed12["hit"]["@5"])],
            ["1K text labels + 12 photo-taught species", "flowers test", pct(mixed_flowers["hit"]["@1"]),
             pct(mixed_flowers["hit"]["@5"])],
        ], "llrr"),
        "### Seen classes: the ImageNet sample",
        table(["index", "hit@1", "hit@5"], seen_rows),
        notes(f"Target: seen-class accuracy not worse than ConSE's with the 1K labels — {verdict(seen_ok)} "
              "(within 1 point at hit@1). In the visual space a seen class is its classifier row, so hit@5 "
              f"follows the CNN's own top-5 ({pct(seen_conse.get('cnn_softmax', {}).get('hit', {}).get('@5'))})."),
    ])


SECTIONS: list[Callable[[Context], str]] = [
    section_header,
    section_imagenet,
    section_flowers,
    section_speed,
    section_charts,
    section_fewshot,
]


def section_name(func: Callable[[Context], str]) -> str:
    """`section_speed` -> 'speed' (the name `--only` takes and the markers use)."""
    return func.__name__.removeprefix("section_")


# --------------------------------------------------------------------------- charts


def pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: Path) -> None:
    """Write a figure as PNG atomically (temp file in the same folder, then rename)."""
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".png")
    os.close(handle)
    try:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
        publish(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    log(f"wrote {rel(path)}")


def plot_curves(path: Path, metric: str, title: str, curves: list[tuple[str, dict[str, Any]]]) -> None:
    """Curves of `metric`@k (x = k, log-spaced) for several eval results."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for label, result in curves:
        values = result.get(metric) or {}
        ks = [k for k in KS if k in values]
        ax.plot([int(k[1:]) for k in ks], [100 * values[k] for k in ks], marker="o", label=label)
    ax.set_xscale("log")
    ax.set_xticks([int(k[1:]) for k in KS], [k[1:] for k in KS])
    ax.minorticks_off()
    ax.set_ylim(0, 100)
    ax.set_xlabel("k")
    ax.set_ylabel(f"{metric}@k (%)")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=8, frameon=False)
    save_figure(fig, path)
    plt.close(fig)


def chart_hit_at_k(ctx: Context, path: Path) -> None:
    """hit@k curves: ImageNet with 1K and 21K labels, flowers 12-way and against 21K."""
    r21k_fl = eval_flowers(ctx, "21k")
    plot_curves(path, "hit", "hit@k: correct label among the top k", [
        ("ImageNet sample, 1K labels", eval_imagenet(ctx, "1k")),
        ("ImageNet sample, 21K labels", eval_imagenet(ctx, "21k")),
        (f"Flowers, {len(flower_species(ctx))}-way", eval_flowers(ctx, "12")),
        (f"Flowers, 21K labels ({r21k_fl['evaluated']} of {r21k_fl['images']} scored)", r21k_fl),
    ])


def chart_hp_at_k(ctx: Context, path: Path) -> None:
    """hp@k curves for the ImageNet sample with 1K and 21K labels."""
    plot_curves(path, "hp", "Hierarchical precision@k (WordNet), ImageNet sample", [
        ("1K labels", eval_imagenet(ctx, "1k")),
        ("21K labels", eval_imagenet(ctx, "21k")),
    ])


def chart_throughput(ctx: Context, path: Path) -> None:
    """Images/s by stage (first benchmark run) plus both pipelines of the baseline comparison."""
    run, base = benchmark(ctx)["runs"][0], baseline(ctx)
    bars = [(stage.replace("_", " "), run["images_per_s"][stage], "tab:blue")
            for stage in STAGES if stage in run["images_per_s"]]
    bars += [("zsclf end to end\n(baseline script)", base["zsclf_images_per_s"], "tab:green"),
             ("PyTorch eager\nend to end", base["baseline_images_per_s"], "tab:red")]
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(9, 4.5))
    positions = range(len(bars))
    ax.bar(positions, [b[1] for b in bars], color=[b[2] for b in bars])
    for x, (_, value, _) in zip(positions, bars, strict=True):
        ax.text(x, value * 1.08, f"{value:,.0f}", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(list(positions), [b[0] for b in bars], rotation=30, ha="right", fontsize=8)
    ax.set_yscale("log")
    ax.set_ylim(1, max(b[1] for b in bars) * 4)
    ax.set_ylabel("images/s (log scale)")
    ax.set_title(f"Throughput by stage ({run_name(run)}; {run['images']} images)")
    ax.grid(True, axis="y", alpha=0.3)
    save_figure(fig, path)
    plt.close(fig)


# --------------------------------------------------------------------------- output


def marker(name: str, end: bool = False) -> str:
    """The HTML comment that opens (or closes) a section's block."""
    return f"<!-- {'/' if end else ''}section: {name} -->"


def wrap(name: str, markdown: str) -> str:
    """A section's markdown between markers, so `--only` can replace it in place later."""
    return f"{marker(name)}\n{markdown.strip()}\n{marker(name, end=True)}"


def splice(existing: str, blocks: dict[str, str]) -> str:
    """Replace the named section blocks in an existing report (appending any that are missing)."""
    for name, block in blocks.items():
        pattern = re.compile(re.escape(marker(name)) + r".*?" + re.escape(marker(name, end=True)), re.S)
        found = pattern.search(existing)
        if found:
            existing = existing[:found.start()] + block + existing[found.end():]
        else:
            existing = existing.rstrip("\n") + "\n\n" + block + "\n"
    return existing


def publish(tmp: str, path: Path) -> None:
    """Give a finished temp file ordinary permissions (mkstemp makes it 0600) and rename it over path."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    os.replace(tmp, path)


def write_atomic(path: Path, text: str) -> None:
    """Write text to path via a temp file in the same folder and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as out:
            out.write(text)
        publish(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def render(ctx: Context, chosen: list[Callable[[Context], str]]) -> dict[str, str]:
    """Run the chosen sections in order; name -> wrapped markdown."""
    blocks = {}
    for func in chosen:
        name = section_name(func)
        log(f"section {name}")
        blocks[name] = wrap(name, func(ctx))
    return blocks


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    names = [section_name(f) for f in SECTIONS]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "results.md",
                        help="report to write (charts go to img/ next to it; default docs/results.md)")
    parser.add_argument("--only", "--section", dest="only", action="append", choices=names, metavar="SECTION",
                        help="regenerate just this section inside the existing report, leaving the others (and the "
                             f"header's date and commit) as they are; repeatable: {', '.join(names)}")
    parser.add_argument("--quick", action="store_true", help="smaller speed measurements (a few minutes less)")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data",
                        help="evaluation data folder (default ../shared/data)")
    parser.add_argument("--work-dir", type=Path,
                        help="keep the indexes built for the report here (default: a temp folder, removed)")
    return parser.parse_args(argv)


def check_environment(data: Path) -> None:
    """Fail early, with a hint, when zsclf is not importable or the data is missing."""
    if importlib.util.find_spec("zsclf") is None:
        raise ReportError(f"zsclf is not importable by {sys.executable}: run with .venv/bin/python (or `make report`)")
    for needed in ("imagenet-sample/labels.tsv", "flowers12/labels.tsv"):
        if not (data / needed).is_file():
            raise ReportError(f"{data / needed}: missing (evaluation data, see ../shared/data/README.md)")


def generate(args: argparse.Namespace, work: Path) -> None:
    """Run the sections and write the report."""
    out = args.out.resolve()
    ctx = Context(data=args.data.resolve(), work=work, out=out, limits=QUICK if args.quick else FULL,
                  quick=args.quick)
    chosen = [f for f in SECTIONS if not args.only or section_name(f) in args.only]
    blocks = render(ctx, chosen)
    if args.only and out.exists():
        text = splice(out.read_text(encoding="utf-8"), blocks)
    else:
        text = "\n\n".join(blocks.values()) + "\n"
    write_atomic(out, text)
    log(f"wrote {rel(out)}")


def main(argv: list[str] | None = None) -> int:
    """Entry point: 0 on success, 1 (with the failing command's stderr) otherwise."""
    args = parse_args(argv)
    start = time.perf_counter()
    try:
        check_environment(args.data.resolve())
        if args.work_dir:
            args.work_dir.mkdir(parents=True, exist_ok=True)
            generate(args, args.work_dir.resolve())
        else:
            with tempfile.TemporaryDirectory(prefix="zsclf-report-") as tmp:
                generate(args, Path(tmp))
    except ReportError as exc:
        print(f"make_report: error: {exc}", file=sys.stderr)
        return 1
    log(f"done in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
