"""Speed: `zsclf benchmark` by stage, the PyTorch-eager baseline, and the speed targets."""

from __future__ import annotations

from typing import Any

from ..conclusions import COLD_START_TARGET_S, E2E_SHARE_TARGET, SPEEDUP_TARGET, verdict
from ..context import Context
from ..markdown import notes, pct, table
from ..runner import rel

SERVE_PREDICT_TARGET_MS, SERVE_SEARCH_TARGET_MS = 25.0, 20.0  # issue 19
STAGES = ("decode_preprocess", "decode_preprocess_1_thread", "encoder", "projection", "search", "end_to_end")


def run_name(run: dict[str, Any]) -> str:
    """'encoder cpu, search cpu' for a benchmark run."""
    return ", ".join(f"{k} {v}" for k, v in run["device"].items())


def cold(run: dict[str, Any], key: str) -> str:
    """A cold-start figure, or '–' when cold starts were skipped."""
    value = (run.get("cold_start") or {}).get(key)
    return "–" if value is None else f"{value:.2f}"


def speed_table(bench: dict[str, Any]) -> str:
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
    return table(header, stage_rows + ratio_rows + other_rows)


def speed_targets(run: dict[str, Any], base: dict[str, Any]) -> str:
    """The three speed targets, each checked against its number."""
    share = run["ratios"]["end_to_end_vs_encoder"]
    cold_median = (run.get("cold_start") or {}).get("median_s")
    return notes(
        f"End to end ≥ {SPEEDUP_TARGET:g}× the PyTorch-eager baseline: {base['speedup']:.2f}×: "
        f"{verdict(base['speedup'] >= SPEEDUP_TARGET)}",
        f"End to end ≥ {100 * E2E_SHARE_TARGET:g}% of encoder-only throughput: {pct(share)}% "
        f"({run['images_per_s']['end_to_end']:.1f} vs {run['images_per_s']['encoder']:.1f} images/s): "
        f"{verdict(share >= E2E_SHARE_TARGET)}",
        f"Cold start ≤ {COLD_START_TARGET_S:g} s median: " + (
            "not measured" if cold_median is None else
            f"{cold_median:.2f} s: {verdict(cold_median <= COLD_START_TARGET_S)}"))


def section_speed(ctx: Context) -> str:
    """Benchmark by stage, the PyTorch-eager baseline comparison, and the speed targets."""
    bench, base = ctx.get("benchmark"), ctx.get("baseline")
    limits = ctx.plan.limits
    base_rows = [
        ["images/s", f"{base['zsclf_images_per_s']:.1f}", f"{base['baseline_images_per_s']:.1f}"],
        ["hit@1 (21K labels)", pct(base["zsclf_hit1"]), pct(base["baseline_hit1"])],
    ]
    return "\n\n".join([
        "## Speed",
        f"`zsclf benchmark {rel(ctx.data / 'imagenet-sample')} --limit {limits.bench}"
        f"{' ' + ' '.join(limits.bench_extra) if limits.bench_extra else ''}` "
        "(default 21K index; each stage best of its repeats; cold start = one-image `zsclf predict` processes).",
        speed_table(bench),
        "### Against the PyTorch-eager baseline",
        f"`benchmarks/baseline_torch.py --limit {limits.baseline}`: the same weights in PyTorch eager mode "
        "with PIL preprocessing and a numpy search, timed in the same process on the same images "
        f"({base['images']} images, {base.get('threads', '?')} threads).",
        table(["", "zsclf", "PyTorch eager"], base_rows),
        notes(f"Speed-up {base['speedup']:.2f}×; top-1 agreement {pct(base['top1_agreement'])}%."),
        "### Targets",
        speed_targets(bench["runs"][0], base),
        serve_section(ctx.get("serve")),
    ])


def serve_section(serve: dict[str, Any]) -> str:
    """`zsclf serve` over loopback: warm request latencies beside the in-process figures above, and the soak."""
    soak = serve["soak"]
    errors = sum(n for status, n in soak["by_status"].items() if status != "200")
    rows = [["POST /v1/predict (one photo)", f"{serve['predict']['p50_ms']:.1f}", f"{serve['predict']['p90_ms']:.1f}",
             f"≤ {SERVE_PREDICT_TARGET_MS:g}: {verdict(serve['predict']['p50_ms'] <= SERVE_PREDICT_TARGET_MS)}"],
            [f"GET /v1/search ({serve['photos']:,} photos)", f"{serve['search']['p50_ms']:.1f}",
             f"{serve['search']['p90_ms']:.1f}",
             f"≤ {SERVE_SEARCH_TARGET_MS:g}: {verdict(serve['search']['p50_ms'] <= SERVE_SEARCH_TARGET_MS)}"]]
    return "\n\n".join([
        "### zsclf serve",
        f"`benchmarks/serve_bench.py`: {serve['predict']['n']} sequential warm requests each on one keep-alive "
        "loopback connection (the collection: the sample photos embedded, then synthetic rows), then "
        f"{soak['clients']} clients for {soak['seconds']:.0f} s.",
        table(["", "p50 (ms)", "p90 (ms)", "target p50 (ms)"], rows),
        notes(f"Soak: {soak['requests']:,} requests ({soak['per_second']:.1f}/s), {errors} errors; server RSS "
              f"{serve['rss_before_soak_mb']:.0f} MB before, {serve['rss_after_soak_mb']:.0f} MB after."),
    ])
