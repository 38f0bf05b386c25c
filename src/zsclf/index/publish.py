"""Publishing a new version of an index folder: crash-safe, one writer at a time, readers never blocked.

Steps of `publish` (each name is a crash point for tests: with `ZSCLF_TEST_CRASH_AT=<step>` the
process SIGKILLs itself right after that step):

    locked            the folder is locked (flock on the folder, see core.locking); made first if new
    version-written   .v-NEW.tmp/ holds index.faiss, labels.tsv, meta.json, each fsynced
    version-synced    .v-NEW.tmp/ itself fsynced
    version-renamed   renamed to v-NEW/, folder fsynced (not in use yet: CURRENT names the old one)
    current-written   .CURRENT.<random>.tmp holds "v-NEW", fsynced
    current-swapped   renamed onto CURRENT (the commit point), then the folder is fsynced
    cleaned           format-1 files, stale temps and versions other than v-NEW and the one it
                      replaced are deleted (and, beside the folder, what an older zsclf's
                      interrupted save left: .NAME.old-<ms>/, .NAME.<random>.tmp/); then the
                      lock is released

A crash before `current-swapped` leaves the old index in use (or no CURRENT at all on a first
build); after it, the new one. Either way the leftovers have our names and are deleted by the next
publish. The version CURRENT named before is kept, so that a reader that read CURRENT just before
the swap can still load it; the one before that is deleted (a reader that still wanted it sees it
vanish, finds CURRENT changed and retries: see index.store).

A second writer waits for the lock up to `wait` seconds (default 60, or ZSCLF_LOCK_WAIT), then
fails with "another zsclf is writing DIR".
"""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Callable, Mapping
from pathlib import Path

from ..core.fsio import fsync_dir, os_reason, write_new_file
from ..core.locking import lock_wait, locked_output
from ..core.targets import check_output_folder
from ..errors import ZsclfError
from .layout import CURRENT, legacy_leftovers, new_version_name, survey, temp_current_name

CRASH_ENV = "ZSCLF_TEST_CRASH_AT"
STEPS = ("locked", "version-written", "version-synced", "version-renamed", "current-written", "current-swapped",
         "cleaned")


def check_index_target(path: Path, option: str = "--output") -> Path:
    """The folder `build-index -o path` will write (symlinks followed), checked before any work: it must be
    missing, empty or provably a zsclf index, and writable. Raises ZsclfError otherwise. `option`: what the
    user changes to choose another folder (in the messages)."""
    real, exists = check_output_folder(path, "index", option)
    if exists:
        found = survey(real)
        if not found.ours:
            raise ZsclfError(f"{path}: exists and is not a zsclf index ({found.foreign}); "
                             f"choose another {option} (nothing was changed)")
    return real


Files = Mapping[str, bytes | bytearray | memoryview]


def publish(path: Path, files: Files | Callable[[Path], Files], wait: float | None = None) -> Path:
    """Write `files` as a new version of index folder `path` and make it current (see the module doc).
    `files` may be a function of the (real) folder, called under the lock: a new version made from the
    current one (index.store.republish) cannot lose a concurrent writer's version."""
    real = check_index_target(path)
    wait = lock_wait() if wait is None else wait
    busy = f"{path}: another zsclf is writing this index (waited {wait:g} s); try again when it has finished"
    with locked_output(path, real, busy, "index", wait) as created:
        _publish_locked(path, real, files, created)
    return path


def _publish_locked(path: Path, real: Path, files: Files | Callable[[Path], Files], created: bool) -> None:
    _crash_point("locked")
    found = survey(real)  # again, under the lock: someone may have put something there meanwhile
    if not found.ours:
        raise ZsclfError(f"{path}: exists and is not a zsclf index ({found.foreign}); choose another --output")
    if callable(files):
        files = files(real)
    name = new_version_name()
    _write_version(real, name, files)
    pointer = real / temp_current_name()
    try:
        write_new_file(pointer, (name + "\n").encode())
        _crash_point("current-written")
        os.replace(pointer, real / CURRENT)
    except BaseException:
        _unlink(pointer)
        shutil.rmtree(real / name, ignore_errors=True)
        raise
    _crash_point("current-swapped")
    try:
        fsync_dir(real)
        if created:
            fsync_dir(real.parent)
    except OSError as exc:
        raise ZsclfError(f"{path}: the new index is in place but could not be synced to disk: "
                         f"{os_reason(exc)}") from None
    _clean(real, keep={name, found.current})
    _crash_point("cleaned")


def _write_version(folder: Path, name: str, files: Files) -> None:
    """Write, fsync and rename into place a version folder (not yet current)."""
    tmp = folder / f".{name}.tmp"
    try:
        os.mkdir(tmp, 0o777)
        for file_name, data in files.items():
            write_new_file(tmp / file_name, data)
        _crash_point("version-written")
        fsync_dir(tmp)
        _crash_point("version-synced")
        os.rename(tmp, folder / name)
        fsync_dir(folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _crash_point("version-renamed")


def _clean(folder: Path, keep: set[str | None]) -> None:
    """Delete what the new version made obsolete; only names `survey` recognises as ours. Best effort: the
    new version is already published, so a failure here only leaves something for the next publish."""
    found = survey(folder)
    if not found.ours:
        return
    for name in found.legacy:
        _unlink(folder / name)
    for path in [folder / n for n in found.temps + [v for v in found.versions if v not in keep]] + legacy_leftovers(
            folder):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            _unlink(path)


def _unlink(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _crash_point(step: str) -> None:
    """Test hook: SIGKILL this process right after `step` when ZSCLF_TEST_CRASH_AT names it."""
    if os.environ.get(CRASH_ENV) == step:
        os.kill(os.getpid(), signal.SIGKILL)
