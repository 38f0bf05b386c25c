"""The charts section: three PNGs drawn from the same measurements as the tables."""

from __future__ import annotations

import os
from pathlib import Path

from ..charts import Bar, plot_bars, plot_curves
from ..context import Context
from ..inputs import flower_species
from ..plan import imagenet_key
from .speed import STAGES, run_name


def chart_hit_at_k(ctx: Context, path: Path) -> None:
    """hit@k curves: ImageNet with 1K and 21K labels, flowers 12-way and against 21K."""
    r21k_fl = ctx.get("eval:flowers-21k")
    plot_curves(path, "hit", "hit@k: correct label among the top k", [
        ("ImageNet sample, 1K labels", ctx.get(imagenet_key("1k"))),
        ("ImageNet sample, 21K labels", ctx.get(imagenet_key("21k"))),
        (f"Flowers, {len(flower_species(ctx.data))}-way", ctx.get("eval:flowers-12")),
        (f"Flowers, 21K labels ({r21k_fl['evaluated']} of {r21k_fl['images']} scored)", r21k_fl),
    ])


def chart_hp_at_k(ctx: Context, path: Path) -> None:
    """hp@k curves for the ImageNet sample with 1K and 21K labels."""
    plot_curves(path, "hp", "Hierarchical precision@k (WordNet), ImageNet sample", [
        ("1K labels", ctx.get(imagenet_key("1k"))),
        ("21K labels", ctx.get(imagenet_key("21k"))),
    ])


def chart_throughput(ctx: Context, path: Path) -> None:
    """Images/s by stage (first benchmark run) plus both pipelines of the baseline comparison."""
    run, base = ctx.get("benchmark")["runs"][0], ctx.get("baseline")
    bars: list[Bar] = [(stage.replace("_", " "), run["images_per_s"][stage], "tab:blue")
                       for stage in STAGES if stage in run["images_per_s"]]
    bars += [("zsclf end to end\n(baseline script)", base["zsclf_images_per_s"], "tab:green"),
             ("PyTorch eager\nend to end", base["baseline_images_per_s"], "tab:red")]
    plot_bars(path, f"Throughput by stage ({run_name(run)}; {run['images']} images)", bars)


CHARTS = [
    ("hit_at_k.png", "hit@k", chart_hit_at_k),
    ("hp_at_k.png", "hp@k", chart_hp_at_k),
    ("throughput.png", "throughput", chart_throughput),
]


def section_charts(ctx: Context) -> str:
    """The three PNG charts, drawn from the same measurements."""
    ctx.img_dir.mkdir(parents=True, exist_ok=True)
    lines = ["## Charts"]
    for filename, alt, draw in CHARTS:
        path = ctx.img_dir / filename
        draw(ctx, path)
        lines.append(f"![{alt}]({os.path.relpath(path, ctx.out.parent)})")
    return "\n\n".join(lines)
