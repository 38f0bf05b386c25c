"""Markdown building blocks: numbers as percent and points, tables, bullet notes, coverage sentences."""

from __future__ import annotations

from typing import Any

from .plan import KS

NUMBER_WORDS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


def pct(value: float | None) -> str:
    """0.8861 -> '88.6'; None -> '–'."""
    return "–" if value is None else f"{100 * value:.1f}"


def points(value: float) -> str:
    """A signed difference in percentage points: -0.017 -> '−1.7 pt'."""
    return f"{100 * value:+.1f} pt".replace("-", "−")


def count_word(n: int) -> str:
    """3 -> 'three' (up to ten), else the digits."""
    return NUMBER_WORDS[n] if 0 <= n < len(NUMBER_WORDS) else f"{n:,}"


def noun(n: int, word: str, suffix: str = "s") -> str:
    """The word for n of them: noun(1, 'class', 'es') -> 'class', noun(2, ...) -> 'classes'."""
    return word if n == 1 else word + suffix


def plural(n: int, word: str, suffix: str = "s") -> str:
    """'1 photo', '2 photos'."""
    return f"{n} {noun(n, word, suffix)}"


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


def notes(*sentences: str) -> str:
    """Non-empty sentences as a bullet list."""
    return "\n".join(f"- {s}" for s in sentences if s)


def coverage(result: dict[str, Any]) -> str:
    """'999 of 1,000 photos scored'."""
    return f"{result['evaluated']:,} of {result['images']:,} photos scored"


def unmatched_note(result: dict[str, Any], names: dict[str, str]) -> str:
    """'' or a sentence listing the ground-truth WNIDs the index has no label for."""
    missing = result.get("unmatched") or {}
    if not missing:
        return ""
    items = ", ".join(f"`{wnid}` {names.get(wnid, '?')} ({count})" for wnid, count in sorted(missing.items()))
    return (f"{plural(sum(missing.values()), 'photo')} of {plural(len(missing), 'class', 'es')} "
            f"not in this index, so not scored (`unmatched`): {items}.")


def failed_note(result: dict[str, Any]) -> str:
    """'' or a sentence about images that failed to decode (eval exit code 1)."""
    failed = result.get("failed", 0)
    if not failed and result.get("_exit_code", 0) == 0:
        return ""
    return f"{failed} image(s) failed to decode (eval exit code {result.get('_exit_code')}); they are not scored."
