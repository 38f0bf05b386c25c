"""Locations that are URIs (`s3://bucket/key`, `gs://…`, `hdfs://…`, `file:///…`), read and written
through pyarrow.fs.

pyarrow is imported only when a URI is met, so a local `predict` never imports it; without pyarrow
a URI is one clear error naming the extra to install.

No network call waits for ever: S3 gets connect and request timeouts (and pyarrow's 3 attempts), GCS a
limit on the time spent retrying (pyarrow's default is 15 minutes), each ZSCLF_URI_TIMEOUT seconds
(default 30) unless the URI's own query sets one (`?retry_limit_seconds=`); an unreachable store is then
one error naming the URI. S3 URIs without `?region=` also ask AWS for the bucket's region first, which
pyarrow does not bound (offline it fails at once: the name does not resolve). `hdfs://` has no such
options in pyarrow: it is bounded by the Hadoop client's own settings.
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path
from typing import BinaryIO

from ..errors import ZsclfError
from . import fsio

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
PYARROW_HINT = "pip install 'zsclf[batch]'"
MAX_READ = 1 << 30  # what one read of a whole object may return (an image, a path list)
TIMEOUT_ENV, DEFAULT_TIMEOUT_S = "ZSCLF_URI_TIMEOUT", 30.0


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
        found, path = fs.FileSystem.from_uri(location)
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError, ArrowIOError an OSError
        raise ZsclfError(f"{location}: {str(exc).splitlines()[0]}") from None
    return _bounded(found, fs), path


def timeout() -> float:
    """Seconds a URI's store may take to answer (ZSCLF_URI_TIMEOUT, default 30)."""
    value = os.environ.get(TIMEOUT_ENV, "")
    try:
        seconds = float(value) if value else DEFAULT_TIMEOUT_S
    except ValueError:
        seconds = -1.0
    if not 0 < seconds < 1e6:
        raise ZsclfError(f"{TIMEOUT_ENV}={value!r}: expected a number of seconds above 0")
    return seconds


def _bounded(found, fs):
    """`found` (a pyarrow FileSystem) again with time limits where its URI set none (see the module doc)."""
    if isinstance(found, fs.S3FileSystem):
        options = found.__reduce__()[1][0]
        for name in ("connect_timeout", "request_timeout"):
            if options[name] < 0:
                options[name] = timeout()
        return type(found)._reconstruct(options)
    if type(found).__name__ == "GcsFileSystem":  # pyarrow.fs.GcsFileSystem exists only when built with GCS
        options = found.__reduce__()[1][0]
        if options["retry_time_limit"] is None:
            options["retry_time_limit"] = timedelta(seconds=timeout())
        return type(found)._reconstruct(options)
    return found


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
