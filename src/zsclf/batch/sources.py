"""What `zsclf batch` reads: image paths from folders, path lists, Parquet or CSV/TSV tables with a path
column, or single images; each local or at a URI pyarrow supports (`s3://`, `gs://`, `hdfs://`, `file://`).

| input | gives |
|---|---|
| `-` | one path per line on stdin (relative to the working folder, as with `predict -`) |
| a folder | the image files under it, recursively, sorted |
| `*.parquet` | the path column (`--path-column`, else the first of path, image, image_path, file, filename, uri) |
| `*.csv`, `*.tsv` | the same, read as zsclf reads every table (`data.tables`) |
| an image (`*.jpg`, …) | itself |
| any other file | a path list: one path per line |

Relative paths in a list or table are relative to the folder that holds it (as in `eval` manifests).
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from ..core import uri
from ..core.fsio import os_reason
from ..data.dataset import PATH_COLUMNS as MANIFEST_PATH_COLUMNS
from ..data.image_files import IMAGE_EXTENSIONS, stdin_paths, walk_images
from ..data.tables import parse_table, pick_column
from ..errors import ZsclfError

PATH_COLUMNS = (*MANIFEST_PATH_COLUMNS, "uri")
PARQUET_SUFFIXES = (".parquet", ".pq")
TABLE_SUFFIXES = (".csv", ".tsv")


def list_paths(inputs: Sequence[str], path_column: str | None = None,
               stdin: Iterable[bytes | str] | None = None) -> Iterator[str]:
    """Every image path the inputs name, lazily, in order (duplicates included)."""
    for item in inputs:
        lowered = item.lower()
        if item == "-":
            yield from stdin_paths(stdin)
        elif _is_folder(item):
            yield from _walk(item)
        elif _is_image_name(item):
            yield item
        elif lowered.endswith(PARQUET_SUFFIXES):
            yield from _relative_to(item, _parquet_paths(item, path_column))
        elif lowered.endswith(TABLE_SUFFIXES):
            yield from _relative_to(item, _table_paths(item, path_column))
        else:
            yield from _relative_to(item, stdin_paths(io.BytesIO(uri.read_file(item, "path list"))))


def _is_image_name(name: str) -> bool:
    return os.path.splitext(name.rsplit("/", 1)[-1])[1].lower() in IMAGE_EXTENSIONS


def _is_folder(item: str) -> bool:
    if not uri.is_uri(item):
        return os.path.isdir(item)
    fs, path = uri.filesystem(item)
    try:
        return fs.get_file_info(path).type == uri.pyarrow_fs().FileType.Directory
    except OSError as exc:
        raise ZsclfError(f"{item}: cannot read input: {os_reason(exc)}") from None


def _walk(folder: str) -> Iterator[str]:
    """Image files under a local folder (`walk_images` order) or a URI folder (sorted by path)."""
    if not uri.is_uri(folder):
        yield from (str(p) for p in walk_images(Path(folder)))
        return
    pafs = uri.pyarrow_fs()
    fs, base = uri.filesystem(folder)
    try:
        infos = fs.get_file_info(pafs.FileSelector(base, recursive=True))
    except OSError as exc:
        raise ZsclfError(f"{folder}: cannot list: {os_reason(exc)}") from None
    found = sorted(i.path for i in infos if i.type == pafs.FileType.File and _is_image_name(i.path))
    prefix = folder.rstrip("/")
    for path in found:
        yield prefix + "/" + path[len(base.rstrip("/")):].lstrip("/")


def _relative_to(source: str, paths: Iterable[str]) -> Iterator[str]:
    """Paths from a list or table at `source`: relative ones are taken relative to its folder."""
    base = source.rsplit("/", 1)[0] if uri.is_uri(source) else os.path.dirname(source)
    for path in paths:
        yield path if uri.is_uri(path) or os.path.isabs(path) or not base else uri.join(base, path)


def _column(source: str, header: Sequence[str], path_column: str | None) -> int:
    if path_column is not None:
        if path_column not in header:
            raise ZsclfError(f"{source}: no column {path_column!r} (columns: {', '.join(header)})")
        return list(header).index(path_column)
    column = pick_column(list(header), PATH_COLUMNS)
    if column is None:
        raise ZsclfError(f"{source}: no path column among {', '.join(header)}: name one with --path-column")
    return column


def _table_paths(source: str, path_column: str | None) -> Iterator[str]:
    data = uri.read_file(source, "table")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ZsclfError(f"{source}: table is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    rows = parse_table(text, source, "table")
    if not rows:
        raise ZsclfError(f"{source}: empty table (it needs a header row naming the path column)")
    column = _column(source, rows[0][1], path_column)
    for lineno, row in rows[1:]:
        if any(c.strip() for c in row):
            if column >= len(row) or not row[column].strip():
                raise ZsclfError(f"{source}:{lineno}: no path in column {rows[0][1][column]!r}")
            yield row[column].strip()


def _parquet_paths(source: str, path_column: str | None) -> Iterator[str]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    fs, path = uri.filesystem(source)
    try:
        parquet = pq.ParquetFile(fs.open_input_file(path))
    except (OSError, pa.ArrowException) as exc:
        reason = os_reason(exc) if isinstance(exc, OSError) else str(exc).splitlines()[0]
        raise ZsclfError(f"{source}: cannot read Parquet file: {reason}") from None
    name = parquet.schema_arrow.names[_column(source, parquet.schema_arrow.names, path_column)]
    if not pa.types.is_string(parquet.schema_arrow.field(name).type) and \
            not pa.types.is_large_string(parquet.schema_arrow.field(name).type):
        raise ZsclfError(f"{source}: column {name!r} holds {parquet.schema_arrow.field(name).type}, not text paths")
    row = 0
    for batch in parquet.iter_batches(columns=[name], batch_size=65536):
        for value in batch.column(0).to_pylist():
            row += 1
            if value is None or not value.strip():
                raise ZsclfError(f"{source}: row {row} has no path in column {name!r}")
            yield value.strip()
