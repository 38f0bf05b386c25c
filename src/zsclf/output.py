"""Writing results: a Rich table for people, JSON Lines / CSV / TSV for pipelines.

Only results go to stdout; every writer streams (one flush per input) except the table,
which is drawn once at the end.
"""

from __future__ import annotations

import csv
import json
import sys
from typing import TextIO

from .pipeline import Result

FORMATS = ("table", "jsonl", "csv", "tsv")
COLUMNS = ("path", "rank", "label", "id", "score")


def default_format(stream: TextIO) -> str:
    """A table on a terminal, JSON Lines otherwise."""
    return "table" if stream.isatty() else "jsonl"


def result_record(result: Result) -> dict:
    """The JSON Lines object for one result."""
    if result.error is not None:
        return {"path": result.path, "error": result.error}
    return {"path": result.path,
            "predictions": [{"label": p.label, "id": p.id, "score": round(p.score, 4)} for p in result.predictions]}


class JsonlWriter:
    """One JSON object per input line: `{"path", "predictions": [{"label", "id", "score"}]}` or `{"path", "error"}`."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, result: Result) -> None:
        self.stream.write(json.dumps(result_record(result), ensure_ascii=False) + "\n")
        self.stream.flush()

    def close(self) -> None:
        self.stream.flush()


class DelimitedWriter:
    """A header row, then one row per (path, rank, label, id, score); failed inputs appear on stderr only."""

    def __init__(self, stream: TextIO, delimiter: str) -> None:
        self.stream = stream
        self.writer = csv.writer(stream, delimiter=delimiter, lineterminator="\n")
        self.writer.writerow(COLUMNS)

    def write(self, result: Result) -> None:
        for rank, pred in enumerate(result.predictions or [], start=1):
            self.writer.writerow((result.path, rank, pred.label, pred.id, f"{pred.score:.4f}"))
        self.stream.flush()

    def close(self) -> None:
        self.stream.flush()


class TableWriter:
    """A Rich table: one block of rows per image, errors in red."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.results: list[Result] = []

    def write(self, result: Result) -> None:
        self.results.append(result)

    def close(self) -> None:
        from rich.console import Console
        from rich.table import Table

        table = Table(show_lines=False)
        for name, justify in (("image", "left"), ("#", "right"), ("label", "left"), ("id", "left"),
                              ("score", "right")):
            table.add_column(name, justify=justify)
        for i, result in enumerate(self.results):
            if result.error is not None:
                table.add_row(result.path, "", f"[red]error: {result.error}[/red]", "", "",
                              end_section=True)
                continue
            preds = result.predictions or []
            for rank, pred in enumerate(preds, start=1):
                table.add_row(result.path if rank == 1 else "", str(rank), pred.label, pred.id,
                              f"{pred.score:.3f}", end_section=rank == len(preds) and i < len(self.results) - 1)
            if not preds:
                table.add_row(result.path, "", "[dim](no label above --min-score)[/dim]", "", "")
        width = None if self.stream.isatty() else 10_000  # a pipe or file: never wrap paths
        Console(file=self.stream, soft_wrap=False, width=width).print(table)


def make_writer(fmt: str, stream: TextIO | None = None):
    """A writer for `fmt` (table, jsonl, csv, tsv) on `stream` (default stdout)."""
    stream = stream or sys.stdout
    if fmt == "jsonl":
        return JsonlWriter(stream)
    if fmt in ("csv", "tsv"):
        return DelimitedWriter(stream, "," if fmt == "csv" else "\t")
    if fmt == "table":
        return TableWriter(stream)
    raise ValueError(f"unknown format {fmt!r}")
