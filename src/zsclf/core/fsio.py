"""Files in and out, safely: reading never blocks on a FIFO or device, writing is atomic.

* `open_regular` opens a file for reading only if it is a regular file (checked on the open
  descriptor, opened non-blocking, so a FIFO can never hang us); `read_text` wraps it with
  size limits and one-line `ZsclfError`s naming the file.
* `atomic_file` writes a temp file beside the target, fsyncs it and renames it into place:
  readers see the old file or the new one, never half of one. `write_new_file` and `fsync_dir`
  are the pieces for writers that publish whole folders (index.publish).
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from ..errors import ZsclfError

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


class NotRegularFileError(OSError):
    """The path exists but is a directory, FIFO, device or socket."""


def file_kind(mode: int) -> str:
    """'a directory', 'a FIFO (named pipe)', ... for a st_mode that is not a regular file."""
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def open_regular(path: str | os.PathLike | bytes) -> BinaryIO:
    """Open `path` for binary reading if it is a regular file; never blocks (a FIFO is refused, not opened
    for a writer to appear). Raises FileNotFoundError, PermissionError, NotRegularFileError, other OSError."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegularFileError(f"is {file_kind(mode)}, not a regular file")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def os_reason(exc: OSError) -> str:
    """A short reason for an OSError, without the path (callers put the path first)."""
    if isinstance(exc, NotRegularFileError):
        return str(exc)
    if isinstance(exc, FileNotFoundError):
        return "no such file"
    if isinstance(exc, PermissionError):
        return "permission denied"
    lines = (exc.strerror or str(exc)).splitlines()  # pyarrow's cloud errors can run over many lines
    reason = lines[0].split(" error_info={")[0] if lines else type(exc).__name__  # GCS: a dump of its retry state
    return reason if len(reason) <= 300 else reason[:299] + "…"


def regular_file_problem(path: str | os.PathLike) -> str | None:
    """Why `path` is not an existing regular file ("no such file", "is a FIFO (named pipe), not a regular
    file", ...), or None when it is one. Follows symbolic links; never opens the file."""
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        return os_reason(exc)
    return None if stat.S_ISREG(mode) else f"is {file_kind(mode)}, not a regular file"


def read_bytes(path: Path, what: str, limit: int) -> bytes:
    """The bytes of a regular file of at most `limit` bytes; otherwise one ZsclfError naming `path` and `what`."""
    try:
        with open_regular(path) as fh:
            data = fh.read(limit + 1)
    except OSError as exc:
        raise ZsclfError(f"{path}: cannot read {what}: {os_reason(exc)}") from None
    if len(data) > limit:
        raise ZsclfError(f"{path}: {what} is larger than {limit:,} bytes")
    return data


def read_text(path: Path, what: str, limit: int = 16 << 20) -> str:
    """A UTF-8 text file (a BOM is dropped), with the checks of `read_bytes`."""
    data = read_bytes(path, what, limit)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ZsclfError(f"{path}: {what} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def fsync_dir(path: Path) -> None:
    """Make a rename or new entry in folder `path` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_folders(folder: Path, target: Path) -> list[Path]:
    """Make `folder` and the missing folders above it (mode 0777 & ~umask); returns those made, deepest
    first, for `remove_empty` when the writing fails. Raises ZsclfError naming `target` (what they are for)."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for made in reversed(missing):
        try:
            os.mkdir(made, 0o777)
        except FileExistsError:
            pass
        except OSError as exc:
            remove_empty(missing)
            raise ZsclfError(f"{target}: cannot make folder {made}: {os_reason(exc)}") from None
    return missing


def remove_empty(folders: list[Path]) -> None:
    """Remove each of `folders` that is empty (best effort: what `make_folders` made, on failure)."""
    for folder in folders:
        try:
            os.rmdir(folder)
        except OSError:
            pass


@contextmanager
def folders_made_for(target: Path, folder: Path, failure: str) -> Iterator[None]:
    """Make `folder` and the missing folders above it for writing `target`. When the block fails, the ones
    made are removed again (if empty) and an OSError becomes one ZsclfError: `failure` with `{target}` and
    `{reason}` filled in, e.g. "{target}: cannot write the index: {reason}; nothing was changed"."""
    made = make_folders(folder, target)
    try:
        yield
    except OSError as exc:
        remove_empty(made)
        raise ZsclfError(failure.format(target=target, reason=os_reason(exc))) from None
    except BaseException:
        remove_empty(made)
        raise


def write_new_file(path: Path, data: bytes | bytearray | memoryview) -> None:
    """Create `path` (it must not exist; mode 0666 & ~umask), write `data` and fsync it. The caller removes
    a half-written file on error (it is in a temp folder or has a temp name)."""
    with open(path, "xb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


@contextmanager
def atomic_file(path: str | Path) -> Iterator[BinaryIO]:
    """Open a temp file next to `path` for binary writing; on success it is fsynced and replaces `path`
    (mode 0666 & ~umask); on error it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
