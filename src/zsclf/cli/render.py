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
from typing import TYPE_CHECKING, TextIO

import typer

from .terminal import error, plain

if TYPE_CHECKING:  # not at run time: `search` writes through here without importing the classifier
    from ..pipeline.classifier import Result

COLUMNS = ("path", "rank", "label", "id", "score")
HEDGED_COLUMNS = ("hedged_label", "hedged_id", "hedged_probability", "hedged_depth")  # only with --hedge


def default_format(stream: TextIO) -> str:
    """A table on a terminal, JSON Lines otherwise."""
    return "table" if stream.isatty() else "jsonl"


class JsonlWriter:
    """One JSON object per input line: `{"path", "predictions": [{"label", "id", "score"}]}` (with --hedge also
    `"hedged": {"label", "id", "probability", "depth"}`) or `{"path", "error"}`."""

    streaming = True

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def record(self, result) -> dict:
        return result.record()

    def write(self, result) -> None:
        self.stream.write(json.dumps(self.record(result), ensure_ascii=False) + "\n")
        self.stream.flush()

    def close(self) -> None:
        self.stream.flush()


class DelimitedWriter:
    """A header row, then one row per (path, rank, label, id, score); with `hedged` (--hedge) each row also
    carries the image's hedged answer (HEDGED_COLUMNS). Failed inputs appear on stderr only."""

    streaming = True
    columns: tuple[str, ...] = COLUMNS

    def __init__(self, stream: TextIO, delimiter: str, hedged: bool = False) -> None:
        self.stream = stream
        self.hedged = hedged
        self.writer = csv.writer(stream, delimiter=delimiter, lineterminator="\n")
        self.writer.writerow(self.columns + (HEDGED_COLUMNS if hedged else ()))

    def rows(self, result) -> Iterable[tuple]:
        h = getattr(result, "hedged", None)
        extra = ((h.label, h.id, f"{h.probability:.4f}", h.depth) if h else ("", "", "", "")) if self.hedged else ()
        for rank, pred in enumerate(result.predictions or [], start=1):
            yield (result.path, rank, pred.label, pred.id, f"{pred.score:.4f}", *extra)

    def write(self, result) -> None:
        self.writer.writerows(self.rows(result))
        self.stream.flush()

    def close(self) -> None:
        self.stream.flush()


class TableWriter:
    """A Rich table: one block of rows per image, errors in red; every path, label and id shown verbatim."""

    streaming = False
    columns: tuple[tuple[str, str], ...] = (("image", "left"), ("#", "right"), ("label", "left"), ("id", "left"),
                                            ("score", "right"))

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.results: list = []

    def write(self, result) -> None:
        self.results.append(result)

    def add_rows(self, table, result, last: bool) -> None:
        """The rows of one result (`last`: no section line after it)."""
        path = plain(result.path)
        if result.error is not None:
            table.add_row(path, "", f"[red]error: {plain(result.error)}[/red]", "", "", end_section=True)
            return
        preds, hedged = result.predictions or [], getattr(result, "hedged", None)
        for rank, pred in enumerate(preds, start=1):
            table.add_row(path if rank == 1 else "", str(rank), plain(pred.label), plain(pred.id),
                          f"{pred.score:.3f}", end_section=rank == len(preds) and not last and hedged is None)
        if not preds:
            table.add_row(path, "", "[dim](no label above --min-score)[/dim]", "", "")
        if hedged is not None:
            table.add_row("", "hedged", f"[bold]{plain(hedged.label)}[/bold] [dim](depth {hedged.depth})[/dim]",
                          plain(hedged.id), f"{hedged.probability:.3f}", end_section=not last)

    def close(self) -> None:
        from rich.console import Console
        from rich.table import Table

        table = Table(show_lines=False)
        for name, justify in self.columns:
            table.add_column(name, justify=justify)
        for i, result in enumerate(self.results):
            self.add_rows(table, result, last=i == len(self.results) - 1)
        width = None if self.stream.isatty() else 10_000  # a pipe or file: never wrap paths
        Console(file=self.stream, soft_wrap=False, width=width, emoji=False).print(table)


def make_writer(fmt: str, stream: TextIO | None = None, kinds: tuple[type, type, type, type] | None = None,
                hedged: bool = False):
    """A writer for `fmt` (table, jsonl, csv, tsv, html) on `stream` (default stdout); `kinds`: other
    (jsonl, delimited, table, html) writer classes for another kind of result; `hedged`: CSV/TSV get the
    hedged-answer columns (JSON Lines, the table and HTML show a hedged answer whenever a result has one)."""
    from .render_html import HtmlWriter

    stream = stream or sys.stdout
    jsonl, delimited, table, html = kinds or (JsonlWriter, DelimitedWriter, TableWriter, HtmlWriter)
    if fmt == "jsonl":
        return jsonl(stream)
    if fmt in ("csv", "tsv"):
        return delimited(stream, "," if fmt == "csv" else "\t", hedged)
    if fmt == "table":
        return table(stream)
    if fmt == "html":
        return html(stream)
    raise ValueError(f"unknown format {fmt!r}")


def write_results(results: Iterable[Result], fmt: str | None, make=make_writer, hedged: bool = False) -> tuple[int, int]:
    """Write results to stdout as they come (errors also as lines on stderr); returns (total, failed).

    The writer is made on the first result (by `make(fmt)`): no inputs, nothing on stdout. Any result
    type with an `error` attribute works, given writers for it (`search` uses this too).
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
                writer = make(fmt, hedged=hedged)
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
