"""Writing results: a Rich table for people, JSON Lines / CSV / TSV for pipelines.

Only results go to stdout; every writer streams (one flush per input) except the table,
which is drawn once at the end. A reader that goes away (`| head`) ends the run quietly with
exit 0; a stdout that cannot be written (full disk, closed) is one error line and exit 2, or 1
when some results were already written.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterable
from typing import TextIO

import typer

from ..pipeline.classifier import Result
from .terminal import error

COLUMNS = ("path", "rank", "label", "id", "score")
HEDGED_COLUMNS = ("hedged_label", "hedged_id", "hedged_probability", "hedged_depth")  # only with --hedge


def default_format(stream: TextIO) -> str:
    """A table on a terminal, JSON Lines otherwise."""
    return "table" if stream.isatty() else "jsonl"


def result_record(result: Result) -> dict:
    """The JSON Lines object for one result."""
    if result.error is not None:
        return {"path": result.path, "error": result.error}
    record = {"path": result.path,
              "predictions": [{"label": p.label, "id": p.id, "score": round(p.score, 4)} for p in result.predictions]}
    if result.hedged is not None:
        h = result.hedged
        record["hedged"] = {"label": h.label, "id": h.id, "probability": round(h.probability, 4), "depth": h.depth}
    return record


class JsonlWriter:
    """One JSON object per input line: `{"path", "predictions": [{"label", "id", "score"}]}` (with --hedge also
    `"hedged": {"label", "id", "probability", "depth"}`) or `{"path", "error"}`."""

    streaming = True

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, result: Result) -> None:
        self.stream.write(json.dumps(result_record(result), ensure_ascii=False) + "\n")
        self.stream.flush()

    def close(self) -> None:
        self.stream.flush()


class DelimitedWriter:
    """A header row, then one row per (path, rank, label, id, score); with `hedged` (--hedge) each row also
    carries the image's hedged answer (HEDGED_COLUMNS). Failed inputs appear on stderr only."""

    streaming = True

    def __init__(self, stream: TextIO, delimiter: str, hedged: bool = False) -> None:
        self.stream = stream
        self.hedged = hedged
        self.writer = csv.writer(stream, delimiter=delimiter, lineterminator="\n")
        self.writer.writerow(COLUMNS + (HEDGED_COLUMNS if hedged else ()))

    def write(self, result: Result) -> None:
        h = result.hedged
        extra = ((h.label, h.id, f"{h.probability:.4f}", h.depth) if h else ("", "", "", "")) if self.hedged else ()
        for rank, pred in enumerate(result.predictions or [], start=1):
            self.writer.writerow((result.path, rank, pred.label, pred.id, f"{pred.score:.4f}", *extra))
        self.stream.flush()

    def close(self) -> None:
        self.stream.flush()


class TableWriter:
    """A Rich table: one block of rows per image, errors in red."""

    streaming = False

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.results: list[Result] = []

    def write(self, result: Result) -> None:
        self.results.append(result)

    def close(self) -> None:
        from rich.console import Console
        from rich.markup import escape
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
                              f"{pred.score:.3f}",
                              end_section=rank == len(preds) and i < len(self.results) - 1 and result.hedged is None)
            if not preds:
                table.add_row(result.path, "", "[dim](no label above --min-score)[/dim]", "", "")
            if result.hedged is not None:
                h = result.hedged
                table.add_row("", "hedged", f"[bold]{escape(h.label)}[/bold] [dim](depth {h.depth})[/dim]", h.id,
                              f"{h.probability:.3f}", end_section=i < len(self.results) - 1)
        width = None if self.stream.isatty() else 10_000  # a pipe or file: never wrap paths
        Console(file=self.stream, soft_wrap=False, width=width).print(table)


def make_writer(fmt: str, stream: TextIO | None = None, hedged: bool = False):
    """A writer for `fmt` (table, jsonl, csv, tsv) on `stream` (default stdout); `hedged`: CSV/TSV get the
    hedged-answer columns (JSON Lines and the table show a hedged answer whenever a result has one)."""
    stream = stream or sys.stdout
    if fmt == "jsonl":
        return JsonlWriter(stream)
    if fmt in ("csv", "tsv"):
        return DelimitedWriter(stream, "," if fmt == "csv" else "\t", hedged)
    if fmt == "table":
        return TableWriter(stream)
    raise ValueError(f"unknown format {fmt!r}")


def write_results(results: Iterable[Result], fmt: str | None, hedged: bool = False) -> tuple[int, int]:
    """Write results to stdout as they come (errors also as lines on stderr); returns (total, failed).

    The writer is made on the first result: no inputs, nothing on stdout.
    """
    writer = None
    total = failed = 0
    try:
        for result in results:
            if sys.stdout is None:
                raise OSError("stdout is closed")
            if writer is None:
                fmt = fmt or default_format(sys.stdout)
                # paths that are not UTF-8: their own bytes in CSV/TSV, \udcXX escapes in JSON and tables
                sys.stdout.reconfigure(errors="surrogateescape" if fmt in ("csv", "tsv") else "backslashreplace")
                writer = make_writer(fmt, hedged=hedged)
            total += 1
            if result.error is not None:
                failed += 1
                error(result.error)
            writer.write(result)
        if writer:
            writer.close()
    except BrokenPipeError:  # e.g. `zsclf predict ... | head`: the reader has what it wanted
        _silence_stdout()
        raise typer.Exit(0) from None
    except OSError as exc:
        _silence_stdout()
        error(f"cannot write results to stdout: {exc.strerror or exc}")
        written = total - 1 if writer is not None and writer.streaming else 0
        raise typer.Exit(1 if written else 2) from None
    return total, failed


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's final flush cannot fail again."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.close(devnull)
    except OSError:
        pass
