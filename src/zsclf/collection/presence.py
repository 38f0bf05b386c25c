"""Is the folder of a photo still there? An update forgets a photo it did not find only when it is.

A drive that is unplugged leaves an empty mount point (or no folder at all); a drive swapped for
another shows as a folder on another device (`st_dev`) than the one the photo was found on. None of
these says that the photo was deleted, so its record is kept (and reported) until `--prune` asks. A
photo is forgotten when its own folder is there: listable, not empty, on the device it was found on,
and the photo is not in it.
"""

from __future__ import annotations

import os
import stat

from ..core.fsio import os_reason

MISSING = "is missing (an unplugged drive, or a folder moved or deleted?)"
EMPTY = "is empty (an unplugged drive?)"
OTHER_DEVICE = "is on another device than when its photos were added (another drive at this mount point?)"


class Presence:
    """Answers `unavailable` for the photos of one update, looking at each folder once."""

    def __init__(self) -> None:
        self._seen: dict[bytes, tuple[str | None, int | None]] = {}

    def unavailable(self, path: bytes, dev: int | None, root: bytes) -> tuple[bytes, str] | None:
        """(folder, why) when the photo at `path`, found under `root` in a folder on device `dev` (None: not
        recorded), may still exist where it cannot be seen now: the highest folder from `root` down to the
        photo's own that is missing, empty or not listable, or its own folder when that is on another device.
        None when its folder is there and the photo is not: it was deleted."""
        parent = os.path.dirname(path)
        folder = root
        for part in [b""] + [p for p in parent[len(root):].split(b"/") if p]:
            folder = os.path.join(folder, part) if part else folder
            why, _ = self._look(folder)
            if why is not None:
                return folder, why
        if dev is not None and self._look(parent)[1] != dev:
            return parent, OTHER_DEVICE
        return None

    def _look(self, folder: bytes) -> tuple[str | None, int | None]:
        """(why the folder is not there or None, its st_dev), cached."""
        if folder not in self._seen:
            self._seen[folder] = _look(folder)
        return self._seen[folder]


def _look(folder: bytes) -> tuple[str | None, int | None]:
    try:
        st = os.stat(folder)
        if not stat.S_ISDIR(st.st_mode):
            return "is no longer a folder", None
        with os.scandir(folder) as entries:
            empty = next(entries, None) is None
    except (FileNotFoundError, NotADirectoryError):
        return MISSING, None
    except OSError as exc:
        return f"cannot be listed ({os_reason(exc)})", None
    return (EMPTY if empty else None), st.st_dev
