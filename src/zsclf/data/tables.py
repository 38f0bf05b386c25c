"""Reading the user's tables (label files, photo manifests) the same strict way everywhere.

`.tsv`: tab-separated, no quoting at all (a `"` is an ordinary character), any line ending
(LF, CRLF or CR). `.csv`: RFC 4180 quoting. Fields may be long (up to 16 MiB). Every problem is
one `ZsclfError` naming the file and the line.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from ..core.fsio import read_text
from ..errors import ZsclfError

MAX_FIELD = 16 << 20
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def split_lines(text: str) -> list[str]:
    """Lines split at LF, CRLF or CR (not at form feeds or other Unicode breaks); a final line break
    ends the last line, it does not open an empty one."""
    lines = _LINE_BREAK.split(text)
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def read_table(path: Path, what: str, limit: int = 1 << 30) -> list[tuple[int, list[str]]]:
    """(line number, cells) for every line of a .tsv or .csv file (header included)."""
    return parse_table(read_text(path, what, limit), path, what)


def parse_table(text: str, path: Path | str, what: str) -> list[tuple[int, list[str]]]:
    """`read_table` on text already read; `path` (a local path or a URI) decides the dialect (.csv or not)
    and names the file in errors."""
    if not str(path).lower().endswith(".csv"):
        return [(n, line.split("\t")) for n, line in enumerate(split_lines(text), start=1)]
    csv.field_size_limit(MAX_FIELD)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows = []
    try:
        for record in reader:
            rows.append((reader.line_num, record))
    except csv.Error as exc:
        raise ZsclfError(f"{path}:{reader.line_num}: cannot parse {what} ({exc})") from None
    return rows


def pick_column(header: list[str], candidates: tuple[str, ...]) -> int | None:
    """The position of the first candidate name in a header row (case and surrounding space ignored)."""
    lowered = [h.strip().lower() for h in header]
    return next((lowered.index(name) for name in candidates if name in lowered), None)


def cell(path: Path, line: int, row: list[str], column: int | None) -> str:
    """A stripped cell ("" for a column the table lacks), or one error naming the line of a short row."""
    if column is None:
        return ""
    if column >= len(row):
        raise ZsclfError(f"{path}:{line}: expected at least {column + 1} columns, got {len(row)}")
    return row[column].strip()
