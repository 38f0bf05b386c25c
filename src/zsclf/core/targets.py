"""Output targets (`-o`), checked before any work starts: can this path be written, and where?

* A symlink is followed: the file or folder it points to is written, the link stays a link.
  A dangling one is an error (we do not guess whether to create its target).
* Missing parent folders are fine (they are made when writing), but the nearest existing one must
  be a folder we can create entries in. That is tried for real (a folder made and removed at
  once), since permission bits do not tell for root, read-only mounts or /proc.
* An existing target must be of the kind asked for: a folder for a folder, a regular file for a
  file. Whether an existing folder may be replaced is the caller's question (see index.publish).

Every problem is one `ZsclfError` line naming the path and what to do.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from ..errors import ZsclfError
from .fsio import file_kind, os_reason

PROBE_PREFIX, PROBE_SUFFIX = ".zsclf-", ".probe"  # an empty folder of this name is ours to remove


def check_output_folder(path: Path, what: str, option: str = "--output") -> tuple[Path, bool]:
    """Where output folder `path` really is (symlinks followed) and whether it exists; raises ZsclfError
    when it cannot be written. `option`: what the user changes to choose another folder (messages)."""
    real, st = _follow(path, what, option)
    if st is None:
        _check_creatable(path, real, what, option)
        return real, False
    if not stat.S_ISDIR(st.st_mode):
        kind = "a file" if stat.S_ISREG(st.st_mode) else file_kind(st.st_mode)
        raise ZsclfError(f"{path}: is {kind}, not a folder; choose another {option} for the {what}")
    _probe(path, real, what)
    return real, True


def check_output_file(path: Path, what: str) -> Path:
    """Where output file `path` really is (symlinks followed); raises ZsclfError when it cannot be written
    (a folder, FIFO or device there, or no writable folder for it)."""
    real, st = _follow(path, what)
    if st is not None and not stat.S_ISREG(st.st_mode):
        hint = "give a file name" if stat.S_ISDIR(st.st_mode) else "choose another"
        raise ZsclfError(f"{path}: is {file_kind(st.st_mode)}, not a file; {hint} for the {what} (--output)")
    _check_creatable(path, real, what)
    return real


def _follow(path: Path, what: str, option: str = "--output") -> tuple[Path, os.stat_result | None]:
    """`path` with symlinks resolved, and its stat (None when nothing is there)."""
    real = Path(os.path.realpath(path))
    try:
        return real, os.stat(real)
    except FileNotFoundError:
        pass
    except NotADirectoryError:
        return real, None  # a parent is a file: reported by _check_creatable
    except OSError as exc:
        raise ZsclfError(f"{path}: cannot use it for the {what}: {os_reason(exc)}") from None
    if os.path.islink(path):
        raise ZsclfError(f"{path}: is a symlink to {os.readlink(path)}, which does not exist; "
                         f"create it or choose another {option} for the {what}")
    return real, None


def _check_creatable(path: Path, real: Path, what: str, option: str = "--output") -> None:
    """The nearest existing folder above `real` must be a folder we can write in."""
    parent = real.parent
    while True:
        try:
            st = os.stat(parent)
            break
        except (FileNotFoundError, NotADirectoryError):
            if parent == parent.parent:
                raise ZsclfError(f"{path}: no existing folder above it; choose another {option}") from None
            parent = parent.parent
        except OSError as exc:
            raise ZsclfError(f"{path}: cannot use {parent} for the {what}: {os_reason(exc)}") from None
    if not stat.S_ISDIR(st.st_mode):
        kind = "a file" if stat.S_ISREG(st.st_mode) else file_kind(st.st_mode)
        raise ZsclfError(f"{path}: {parent} is {kind}, not a folder; choose another {option} for the {what}")
    _probe(path, parent, what)


def _probe(path: Path, folder: Path, what: str) -> None:
    """Make and remove a folder in `folder`: the only sure test that we may write there."""
    try:
        os.rmdir(tempfile.mkdtemp(prefix=PROBE_PREFIX, suffix=PROBE_SUFFIX, dir=folder))
    except OSError as exc:
        raise ZsclfError(f"{path}: cannot write the {what} in {folder}: {os_reason(exc)}") from None
