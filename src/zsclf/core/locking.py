"""An exclusive lock on a folder, so that one writer at a time changes it.

The lock is `flock(LOCK_EX)` on the folder itself (an `O_DIRECTORY` descriptor), not on a lock
file: nothing extra is left behind, two writers that both create the folder for the first time
still meet on the same lock, and the kernel drops it when the holder dies (even by SIGKILL).
A writer that finds the folder locked polls until `wait` seconds have passed, then gives up with
`busy_message`. After taking the lock the folder is checked to be still the one at `path` (a
writer that created it may have removed it again on failure while we waited); if not, we lock
the new one. Local file systems only: on NFS `flock` may not be shared between machines.

`locked_output` is what writers use: the missing folders above the target made, the target locked
(ZSCLF_LOCK_WAIT seconds, default 60, for another holder), and on failure the folders it made removed
again when they are still empty, so that a refused or failed write leaves nothing behind.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import ZsclfError
from .fsio import folders_made_for, remove_empty

POLL_S = 0.05
WAIT_ENV, DEFAULT_WAIT_S = "ZSCLF_LOCK_WAIT", 60.0


def lock_wait() -> float:
    """Seconds a writer waits for another one (ZSCLF_LOCK_WAIT, default 60)."""
    value = os.environ.get(WAIT_ENV, "")
    try:
        return max(0.0, float(value)) if value else DEFAULT_WAIT_S
    except ValueError:
        raise ZsclfError(f"{WAIT_ENV}={value!r}: expected a number of seconds") from None


@contextmanager
def locked_output(path: Path, real: Path, busy_message: str, what: str, wait: float | None = None) -> Iterator[bool]:
    """`folder_lock` on output folder `real` (`path` as the user named it), its missing parents made first.
    Yields True when it made the folder. When the body fails, what this call made is removed if still empty;
    an OSError making or locking it is a ZsclfError naming `path` and `what` was to be written."""
    wait = lock_wait() if wait is None else wait
    with folders_made_for(path, real.parent, f"{{target}}: cannot write the {what}: {{reason}}; nothing was changed"), \
            folder_lock(real, wait, busy_message) as created:
        try:
            yield created
        except BaseException:
            if created:
                remove_empty([real])
            raise


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
