"""Walking photo folders for a collection: streamed, sorted, and careful with what it finds.

* hidden files and folders (a name starting with `.`: `.DS_Store`, `._IMG_1.jpg`, `.thumbnails`,
  `.Trashes`) and the system folders external drives and NAS boxes carry (`$RECYCLE.BIN`,
  `System Volume Information`, `@eaDir`, `lost+found`, …) are skipped silently;
* `exclude` globs (`fnmatch`, case-sensitive) are tried on each file's and folder's name, on its path
  relative to the folder walked and on its full path; a matching folder is not entered;
* only files with an image extension are photos; FIFOs, devices and sockets with one are reported
  (never opened), as are broken links; symbolic links to folders are not followed (no loops);
* a folder that cannot be listed is reported, so that the caller keeps what it knew about it.

Memory stays bounded by the largest single folder: entries are yielded as they are found.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase

from ..core.fsio import file_kind
from .image_files import is_image_name

SYSTEM_NAMES = frozenset(name.lower() for name in (
    "$RECYCLE.BIN", "RECYCLER", "System Volume Information", "lost+found", "@eaDir", "#recycle", "#snapshot",
    "Thumbs.db", "desktop.ini", "ehthumbs.db", "Icon\r",
))


@dataclass(frozen=True)
class FoundPhoto:
    """A regular file with an image extension: its path (as the walk spells it), what stat says, and the
    device of the folder it was found in (`st_dev`: a drive swapped under a mount point shows there)."""

    path: str
    size: int
    mtime_ns: int
    dev: int = 0


@dataclass(frozen=True)
class Skipped:
    """Something the walk did not take: `kind` is "special" (FIFO, device, socket), "unreadable"
    (a folder that cannot be listed, or a file that cannot be stat'ed) or "link" (broken link)."""

    path: str
    kind: str
    reason: str


def is_hidden_or_system(name: str) -> bool:
    """True for dot files and folders and for the system names of external drives and NAS boxes."""
    return name.startswith(".") or name.lower() in SYSTEM_NAMES or name.startswith("~$")


def excluded(name: str, relative: str, full: str, globs: Sequence[str]) -> bool:
    """True when any glob matches the entry's name, its path relative to the root or its full path."""
    return any(fnmatchcase(name, g) or fnmatchcase(relative, g) or fnmatchcase(full, g) for g in globs)


def walk_photos(root: str, exclude: Sequence[str] = (), on_skip: Callable[[Skipped], None] | None = None
                ) -> Iterator[FoundPhoto]:
    """Photos under `root` (a folder), depth first in sorted name order; see the module doc for the rules."""
    report = on_skip or (lambda _s: None)
    stack: list[tuple[str, str]] = [(root, "")]
    while stack:
        folder, rel = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
            dev = os.stat(folder).st_dev
        except OSError as exc:
            report(Skipped(folder, "unreadable", exc.strerror or str(exc)))
            continue
        subfolders = []
        for entry in entries:
            name = entry.name
            relative = f"{rel}{name}"
            if is_hidden_or_system(name) or excluded(name, relative, entry.path, exclude):
                continue
            found = _visit(entry, dev, report)
            if found == "dir":
                subfolders.append((entry.path, relative + "/"))
            elif found is not None:
                yield found
        stack.extend(reversed(subfolders))


def _visit(entry: os.DirEntry, dev: int, report: Callable[[Skipped], None]) -> FoundPhoto | str | None:
    """"dir" for a real folder to enter, a FoundPhoto for a photo, None for anything else."""
    try:
        if entry.is_dir(follow_symlinks=False):
            return "dir"
        if not is_image_name(entry.name):
            return None
        st = entry.stat()  # follows a link to a file
    except FileNotFoundError:
        if entry.is_symlink():
            report(Skipped(entry.path, "link", "broken symbolic link"))
        return None  # else gone since the folder was listed
    except OSError as exc:
        report(Skipped(entry.path, "unreadable", exc.strerror or str(exc)))
        return None
    if stat.S_ISDIR(st.st_mode):
        return None  # a link to a folder named like a photo
    if not stat.S_ISREG(st.st_mode):
        report(Skipped(entry.path, "special", f"is {file_kind(st.st_mode)}, not a regular file"))
        return None
    return FoundPhoto(entry.path, st.st_size, st.st_mtime_ns, dev)
