"""An exclusive lock on a folder, so that one writer at a time changes it.

The lock is `flock(LOCK_EX)` on the folder itself (an `O_DIRECTORY` descriptor), not on a lock
file: nothing extra is left behind, two writers that both create the folder for the first time
still meet on the same lock, and the kernel drops it when the holder dies (even by SIGKILL).
A writer that finds the folder locked polls until `wait` seconds have passed, then gives up with
`busy_message`. After taking the lock the folder is checked to be still the one at `path` (a
writer that created it may have removed it again on failure while we waited); if not, we lock
the new one. Local file systems only: on NFS `flock` may not be shared between machines.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import ZsclfError

POLL_S = 0.05


@contextmanager
def folder_lock(path: Path, wait: float, busy_message: str, create: bool = True) -> Iterator[bool]:
    """Hold an exclusive lock on folder `path` (made first when `create` and it is missing; its parent must
    exist). Yields True when this call created the folder. Raises ZsclfError(busy_message) after `wait`
    seconds of another holder, and OSError when the folder cannot be made or opened."""
    deadline = time.monotonic() + wait
    while True:
        created = False
        if create:
            try:
                os.mkdir(path, 0o777)
                created = True
            except FileExistsError:
                pass
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            _acquire(fd, deadline, busy_message)
            if _same_folder(fd, path):
                yield created
                return
        finally:
            os.close(fd)  # also releases the lock


def _acquire(fd: int, deadline: float, busy_message: str) -> None:
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise ZsclfError(busy_message) from None
            time.sleep(POLL_S)


def _same_folder(fd: int, path: Path) -> bool:
    """Is the locked folder still the one at `path`?"""
    held = os.fstat(fd)
    try:
        now = os.stat(path)
    except FileNotFoundError:
        return False
    return (now.st_dev, now.st_ino) == (held.st_dev, held.st_ino)
