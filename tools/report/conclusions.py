"""The report's targets and the prose drawn from the numbers: verdicts, comparisons, trade-offs."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from .markdown import pct, points

TOLERANCE = 0.01  # "within 1 point"
SPEEDUP_TARGET = 2.0  # end to end, times the PyTorch-eager baseline
E2E_SHARE_TARGET = 0.8  # end to end, share of encoder-only throughput
COLD_START_TARGET_S = 0.5  # median
FIVE_SHOT_TARGET = 0.9  # 12-way top-1 with five photos per label
ZERO_SHOT_FACTOR = 2.0  # zero-shot top-1, times ConSE's
NEAR_CHANCE = 0.05  # within 5 points of chance counts as "near chance"
EPSILON = 1e-9  # float slack in the comparisons


def verdict(met: bool) -> str:
    """Bold 'met' / 'not met'."""
    return "**met**" if met else "**not met**"


def within(value: float, reference: float, tolerance: float = TOLERANCE) -> bool:
    """Whether value is no more than `tolerance` below reference (a gap of exactly the tolerance counts, despite
    float rounding: 0.865 - 0.875 is a hair below -0.01)."""
    return value - reference >= -tolerance - EPSILON


def tolerance_text(tolerance: float = TOLERANCE) -> str:
    """0.01 -> 'within 1 point'."""
    n = 100 * tolerance
    return f"within {n:g} point{'' if n == 1 else 's'}"


def close(value: float, other: float, tolerance: float = TOLERANCE) -> bool:
    """Whether the two differ by no more than `tolerance` either way."""
    return abs(value - other) <= tolerance + EPSILON


def times_text(factor: float) -> str:
    """2 -> 'double', 3 -> '3×'."""
    return "double" if factor == 2 else f"{factor:g}×"


def gap_target(claim: str, value: float, reference: float) -> str:
    """'CLAIM: 88.6 vs 88.5 (+0.1 pt): **met**', met when value is within TOLERANCE of reference or above."""
    shown = f"{pct(value)} vs {pct(reference)} ({points(value - reference)})"
    return f"{claim}: {shown}: {verdict(within(value, reference))}"


def compare(name: str, value: float, other_name: str, other: float, unit: str = "points") -> str:
    """'A beats B by N points' / 'A trails B by N points' / 'A and B are within 1 point' (fractions as percent)."""
    gap = value - other
    if close(value, other):
        return f"{name} and {other_name} are {tolerance_text()}"
    return f"{name} {'beats' if gap > 0 else 'trails'} {other_name} by {100 * abs(gap):.1f} {unit}"


def tradeoff(metric: str, value: float, reference: float, why: str = "", what: str = "hierarchical precision") -> str:
    """'at the cost of hierarchical precision (hp@5 41.5 vs 51.8: WHY)' when value is lower,
    else 'without losing hierarchical precision (...)'."""
    shown = f"{metric} {pct(value)} vs {pct(reference)}"
    if within(value, reference):
        return f"without losing {what} ({shown})"
    return f"at the cost of {what} ({shown}{': ' + why if why else ''})"


def gap_range(gaps: Sequence[float]) -> str:
    """[0.26, 0.49] -> '26.0 to 49.0 points'; a single value or equal values -> '26.0 points'."""
    low, high = min(gaps), max(gaps)
    if round(100 * low, 1) == round(100 * high, 1):
        return f"{100 * low:.1f} points"
    return f"{100 * low:.1f} to {100 * high:.1f} points"


def chance_text(value: float, chance: float) -> str:
    """'near the chance level of 8.3' or 'N points above the chance level of 8.3'."""
    if value - chance < NEAR_CHANCE:
        return f"near the chance level of {pct(chance)}"
    return f"{100 * (value - chance):.1f} points above the chance level of {pct(chance)}"


def dominant_answers(confusions: Sequence[dict[str, Any]], share: float = 0.5) -> tuple[list[tuple[str, int]], int]:
    """The predicted labels that take at least `share` of the listed mistakes (most frequent first), and their total."""
    counts = Counter()
    for pair in confusions:
        counts[pair["predicted"]] += pair["count"]
    total, taken, chosen = sum(counts.values()), 0, []
    for name, count in counts.most_common():
        if total and taken >= share * total:
            break
        chosen.append((name, count))
        taken += count
    return chosen, total


def names_and(names: Sequence[str]) -> str:
    """['a'] -> 'a'; ['a', 'b', 'c'] -> 'a, b and c'."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
