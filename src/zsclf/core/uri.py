"""Locations that are URIs (`s3://bucket/key`, `gs://…`, `hdfs://…`, `file:///…`), read and written
through pyarrow.fs.

pyarrow is imported only when a URI is met, so a local `predict` never imports it; without pyarrow
a URI is one clear error naming the extra to install.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import BinaryIO

from ..errors import ZsclfError
from . import fsio

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
PYARROW_HINT = "pip install 'zsclf[batch]'"
MAX_READ = 1 << 30  # what one read of a whole object may return (an image, a path list)


def is_uri(location: str) -> bool:
    """True for `scheme://…` (a local path never starts like that)."""
    return bool(_SCHEME.match(location))


def pyarrow_fs():
    """The pyarrow.fs module, or a ZsclfError saying how to install it."""
    try:
        import pyarrow.fs
    except ImportError:
        raise ZsclfError(f"URIs and Parquet files need pyarrow: {PYARROW_HINT}") from None
    return pyarrow.fs


def filesystem(location: str):
    """(pyarrow FileSystem, path inside it) for a URI or a local path (made absolute)."""
    fs = pyarrow_fs()
    if not is_uri(location):
        return fs.LocalFileSystem(), os.path.abspath(location)
    try:
        return fs.FileSystem.from_uri(location)
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError, ArrowIOError an OSError
        raise ZsclfError(f"{location}: {str(exc).splitlines()[0]}") from None


def join(base: str, name: str) -> str:
    """`name` inside the folder `base` (a URI or a local path)."""
    return f"{base.rstrip('/')}/{name}" if is_uri(base) else os.path.join(base, name)


def open_input(location: str) -> BinaryIO:
    """A binary stream to read a local file (fsio.open_regular: never blocks on a FIFO) or a URI from.
    Raises OSError (FileNotFoundError for a missing one) and ZsclfError (no pyarrow)."""
    if not is_uri(location):
        return fsio.open_regular(location)
    fs, path = filesystem(location)
    return fs.open_input_stream(path)


def read_bytes(location: str, limit: int = MAX_READ) -> bytes:
    """The whole content of a file at a URI or local path, at most `limit` bytes.
    Raises OSError (FileNotFoundError for a missing one) and ZsclfError (no pyarrow, too large)."""
    fs, path = filesystem(location)
    with fs.open_input_stream(path) as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise ZsclfError(f"{location}: larger than {limit:,} bytes")
    return data


def read_file(location: str, what: str, limit: int = MAX_READ) -> bytes:
    """A whole file (a local path, read without pyarrow, or a URI) as bytes; any problem is one ZsclfError
    naming it and `what` it was meant to be."""
    if not is_uri(location):
        return fsio.read_bytes(Path(location), what, limit)
    try:
        return read_bytes(location, limit)
    except OSError as exc:
        raise ZsclfError(f"{location}: cannot read {what}: {fsio.os_reason(exc)}") from None
