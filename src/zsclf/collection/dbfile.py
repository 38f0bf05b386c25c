"""Opening a collection's SQLite file: where a new one may be made, whether an existing one can be written,
and a read-only connection that works in a read-only folder (see `store` for the format)."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

from ..core.fsio import os_reason
from ..errors import ZsclfError


def is_blank(path: str | os.PathLike) -> bool:
    """A regular file of 0 bytes: an empty SQLite database, where `photos` may make a collection."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and st.st_size == 0


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def writable(path: Path) -> bool:
    """Can the file and its folder (where SQLite keeps the WAL) be written (a read-only mount says no, to root too)?"""
    return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)


def make_parent(path: Path) -> None:
    """Make the folders above a new collection file, or say in one line why they cannot be made."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        reason = "not a folder" if isinstance(exc, (FileExistsError, NotADirectoryError)) else os_reason(exc)
        raise ZsclfError(f"{path}: cannot make the photo collection: {path.parent}: {reason}") from None


def connect_readonly(path: Path) -> sqlite3.Connection:
    """A read-only connection (`mode=ro`). In a folder where SQLite cannot make the WAL's `-shm` (a read-only
    folder or mount), and with no `-wal` file there or an empty one (so no change is left uncheckpointed and no
    writer is at work: one could not make its `-wal` either), `immutable=1`, which needs no `-shm`. A `mode=ro`
    search in a writable folder leaves an empty `-wal` and a `-shm` behind, as any WAL reader may."""
    uri, conn = path.absolute().as_uri(), None
    try:
        conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, isolation_level=None, check_same_thread=False)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return conn
    except sqlite3.OperationalError:
        if conn is not None:
            conn.close()
        if _size(f"{path}-wal") > 0:
            raise
    except sqlite3.DatabaseError:
        return conn  # not a database: the format checks say so
    return sqlite3.connect(f"{uri}?mode=ro&immutable=1", uri=True, isolation_level=None, check_same_thread=False)
