"""What an index folder holds on disk, and whether a folder is provably one of ours.

Format 2 (this zsclf)::

    NAME/CURRENT                      one line: the version in use, e.g. v-20260101T120000Z-1a2b3c4d
    NAME/v-<UTC time>-<8 hex>/        a version: index.faiss, labels.tsv, meta.json (never changed
                                      once CURRENT has named it)
    NAME/.v-<...>.tmp/                a version being written (stale if its writer died)
    NAME/.CURRENT.<random>.tmp        CURRENT being written (likewise)

Format 1 (older zsclf): index.faiss, labels.tsv and meta.json at the top of NAME/.

`survey` sorts a folder's entries into these kinds. A folder is ours (and may be replaced by
`build-index -o`) only when every entry is: a format-1 folder with exactly the three files and a
meta.json that parses as a format-1 index, or a format-2 folder whose entries all have our names
and kinds (version folders holding nothing but our three file names, CURRENT holding a version
name). Anything else, even one extra file, makes the folder foreign and it is never touched.
"""

from __future__ import annotations

import os
import re
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..core import typed_json
from ..core.fsio import read_text
from ..core.targets import PROBE_PREFIX, PROBE_SUFFIX
from ..errors import ZsclfError
from .meta import IndexMeta

INDEX_FILE, LABELS_FILE, META_FILE = "index.faiss", "labels.tsv", "meta.json"
FILES = (INDEX_FILE, LABELS_FILE, META_FILE)
CURRENT = "CURRENT"
VERSION = re.compile(r"v-\d{8}T\d{6}Z-[0-9a-f]{8}")
TEMP_VERSION = re.compile(r"\.(v-\d{8}T\d{6}Z-[0-9a-f]{8})\.tmp")
TEMP_CURRENT = re.compile(r"\.CURRENT\.[0-9a-f]{8}\.tmp")
TEMP_PROBE = re.compile(re.escape(PROBE_PREFIX) + r"[A-Za-z0-9_]+" + re.escape(PROBE_SUFFIX))


def new_version_name() -> str:
    import secrets

    return f"v-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{secrets.token_hex(4)}"


def temp_current_name() -> str:
    import secrets

    return f".CURRENT.{secrets.token_hex(4)}.tmp"


@dataclass
class Survey:
    """An index folder's entries by kind. `foreign` names the first entry that is not ours."""

    exists: bool = True
    has_current: bool = False
    current: str | None = None  # the version CURRENT names (None: no CURRENT, or a damaged one)
    versions: list[str] = field(default_factory=list)
    temps: list[str] = field(default_factory=list)  # stale temp folders and files
    legacy: list[str] = field(default_factory=list)  # format-1 files at the top
    legacy_index: bool = False  # a whole format-1 index
    foreign: str | None = None

    @property
    def ours(self) -> bool:
        return self.foreign is None

    @property
    def empty(self) -> bool:
        return self.exists and not (self.has_current or self.versions or self.temps or self.legacy or self.foreign)


def survey(folder: Path) -> Survey:
    """Sort `folder`'s entries (see the module doc); a missing folder is an empty Survey with exists=False."""
    try:
        entries = {e.name: e for e in os.scandir(folder)}
    except FileNotFoundError:
        return Survey(exists=False)
    except OSError as exc:
        return Survey(foreign=f"cannot list it ({exc.strerror})")
    out = Survey()
    for name, entry in sorted(entries.items()):
        kind = _kind(entry)
        if kind == "gone":
            continue
        if name == CURRENT and kind == "file":
            out.has_current, out.current = True, _version_in(folder / CURRENT)
        elif VERSION.fullmatch(name) and kind == "dir" and _holds_only_ours(folder / name):
            out.versions.append(name)
        elif (TEMP_VERSION.fullmatch(name) and kind == "dir" and _holds_only_ours(folder / name)) or \
                (TEMP_CURRENT.fullmatch(name) and kind == "file") or (TEMP_PROBE.fullmatch(name) and kind == "dir"):
            out.temps.append(name)
        elif name in FILES and kind == "file":
            out.legacy.append(name)
        elif out.foreign is None:
            out.foreign = f"it holds {name!r}{'/' if kind == 'dir' else ''}, which zsclf did not write"
    out.legacy_index = sorted(out.legacy) == sorted(FILES) and _is_legacy_meta(folder / META_FILE)
    if out.foreign is None and out.legacy and not (out.has_current or out.legacy_index):
        out.foreign = f"it holds {', '.join(out.legacy)} but not a whole zsclf index"
    if out.foreign is None and out.has_current and out.current is None and not (out.versions or out.temps):
        out.foreign = f"its {CURRENT} file does not name a zsclf index version"
    return out


def legacy_leftovers(folder: Path) -> list[Path]:
    """What an older zsclf's interrupted save left beside `folder`: `.NAME.old-<ms>/` and `.NAME.<8>.tmp/`
    folders holding nothing but (some of) the three index files."""
    pattern = re.compile(re.escape(f".{folder.name}.") + r"(old-\d+|[a-z0-9_]{8}\.tmp)")
    return [folder.parent / n for n in _names(folder.parent)
            if pattern.fullmatch(n) and (folder.parent / n).is_dir() and not (folder.parent / n).is_symlink()
            and _holds_only_ours(folder.parent / n)]


def read_current(folder: Path) -> str:
    """The version CURRENT names; ZsclfError (saying why, and how to rebuild) when there is none."""
    path = folder / CURRENT
    if not os.path.lexists(path):
        raise ZsclfError(_no_current(folder))
    name = read_text(path, "index pointer", 256).strip()
    if not VERSION.fullmatch(name):
        raise ZsclfError(f"{path}: does not name a version of this index ({name[:40]!r}); rebuild the index")
    return name


def _no_current(folder: Path) -> str:
    rebuild = f"`zsclf build-index LABELS -o {folder}`"
    if not folder.is_dir():
        return f"{folder}: no index there (build one with {rebuild})"
    if _is_legacy_meta(folder / META_FILE):
        return f"{folder}: built by an older zsclf (index format 1); rebuild it with {rebuild}"
    if any(VERSION.fullmatch(n) or TEMP_VERSION.fullmatch(n) for n in _names(folder)):
        return f"{folder}: no {CURRENT} file (a first build is running, or was interrupted); rebuild it with {rebuild}"
    return f"{folder}: not a zsclf index (no {CURRENT} file); build one with {rebuild}"


def _names(folder: Path) -> list[str]:
    try:
        return os.listdir(folder)
    except OSError:
        return []


def _kind(entry: os.DirEntry) -> str:
    try:
        mode = entry.stat(follow_symlinks=False).st_mode
    except FileNotFoundError:
        return "gone"  # renamed or removed by a concurrent writer since the listing
    except OSError:
        return "?"
    return "file" if stat.S_ISREG(mode) else "dir" if stat.S_ISDIR(mode) else "other"


def _holds_only_ours(folder: Path) -> bool:
    try:
        return all(e.name in FILES and e.is_file(follow_symlinks=False) for e in os.scandir(folder))
    except FileNotFoundError:
        return True  # a temp or old version a concurrent writer renamed or removed since the listing
    except OSError:
        return False


def _version_in(path: Path) -> str | None:
    try:
        name = read_text(path, "index pointer", 256).strip()
    except ZsclfError:
        return None
    return name if VERSION.fullmatch(name) else None


def _is_legacy_meta(path: Path) -> bool:
    """Does `path` parse as the meta.json of a format-1 index?"""
    try:
        data = typed_json.read_json(path, "index metadata", 1 << 20)
        if not isinstance(data, dict) or data.get("format") != 1:
            return False
        typed_json.load(IndexMeta, data, str(path))
    except ZsclfError:
        return False
    return True
