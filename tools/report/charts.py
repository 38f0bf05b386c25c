"""The PNG charts (matplotlib, Agg backend), drawn from results already measured."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .output import replace_atomic
from .plan import KS
from .runner import log, rel

Bar = tuple[str, float, str]  # label, value, colour


def pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: Path) -> None:
    """Write a figure as PNG atomically (temp file in the same folder, then rename)."""
    replace_atomic(path, lambda tmp: fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight"), ".png")
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


def plot_bars(path: Path, title: str, bars: list[Bar]) -> None:
    """Bars of images/s on a log scale, each labelled with its value."""
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
    ax.set_title(title)
    ax.grid(True, axis="y", alpha=0.3)
    save_figure(fig, path)
    plt.close(fig)


def plot_tradeoff(path: Path, title: str, curves: list[tuple[str, list[tuple[float, float, float]]]]) -> None:
    """Accuracy (y, %) against mean information gain (x, bits) per data set; points (x, y, P) labelled with P."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.8))
    for label, points in curves:
        xs, ys = [x for x, _, _ in points], [100 * y for _, y, _ in points]
        ax.plot(xs, ys, marker="o", label=label)
        for x, y, p in points:
            if p in (0.5, 0.8, 0.9, 0.95, 0.99):
                ax.annotate(f"{p:g}", (x, 100 * y), textcoords="offset points", xytext=(4, -10), fontsize=7)
    ax.set_xlabel("mean information gain of right answers (bits)")
    ax.set_ylabel("hedged accuracy (%)")
    ax.set_title(title, fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right", fontsize=8, frameon=False)
    save_figure(fig, path)
    plt.close(fig)
