"""The index folder on disk: `save_index` publishes a new version, `load_index` loads the current one.

Layout and what counts as ours: index.layout. Publishing, locking, crash points: index.publish.

    <index>/CURRENT            the version in use
    <index>/v-.../index.faiss  the FAISS index (flat = exact, or HNSW = approximate)
    <index>/v-.../labels.tsv   id, label[, parent] (row i = FAISS id i), UTF-8; `parent` (the WNID a label
                               that is not a synset belongs under) only when some label has one
    <index>/v-.../meta.json    IndexMeta: format 2, encoders, dimension, metric, count, template, space,
                               ..., and `files`: size and CRC-32 of index.faiss and labels.tsv

Loading reads CURRENT, then each file of that version once into memory: its size and CRC-32 are
checked against meta.json and FAISS is handed those same bytes (nothing can change between the
check and the use). Vectors that are not finite are refused too. If a file of the version is
missing and CURRENT has changed meanwhile (a writer published twice while we loaded), we start
again from the new CURRENT (up to LOAD_TRIES times), so a reader never mixes two versions and
never fails because of a concurrent publish.

CRC-32 rather than SHA-256: it detects damage (bit flips, truncation, a file rewritten by another
tool), not tampering, and costs ~20 ms instead of ~55 ms on the 33.5 MB ImageNet-21K index, which
a one-image `zsclf predict` pays on every start.
"""

from __future__ import annotations

import json
import os
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np

from ..core import typed_json
from ..core.fsio import open_regular, os_reason
from ..errors import ZsclfError
from .label_index import LabelIndex, all_finite, stored_vectors
from .layout import CURRENT, FILES, INDEX_FILE, LABELS_FILE, META_FILE, read_current
from .meta import FORMAT_VERSION, FORMATS, FileCheck, IndexMeta, format_for
from .publish import publish

__all__ = ["FILES", "INDEX_FILE", "LABELS_FILE", "META_FILE", "current_version", "load_index", "read_meta",
           "read_meta_file", "republish", "save_index"]

LOAD_TRIES = 5
MAGIC = {"flat": b"IxFI", "hnsw": b"IHNf"}
T = TypeVar("T")


class _Vanished(ZsclfError):
    """A file of the version being loaded is not there (maybe deleted by a concurrent publish)."""


def save_index(index: LabelIndex, folder: str | Path, wait: float | None = None) -> Path:
    """Publish `index` as the new current version of index folder `folder` (made if missing). A folder that
    is not provably a zsclf index is never touched. `wait`: seconds to wait for another writer (default
    ZSCLF_LOCK_WAIT or 60). Raises ZsclfError (nothing changed) when it cannot be written."""
    import faiss

    vectors = stored_vectors(index.faiss_index)
    if vectors is not None and not all_finite(vectors):
        raise ZsclfError(f"{folder}: label vectors contain NaN or infinity; nothing was written")
    data = faiss.serialize_index(index.faiss_index)
    labels_data = labels_bytes(index.ids, index.names, index.parents)
    files = {INDEX_FILE: _file_check(data), LABELS_FILE: _file_check(labels_data)}
    meta = index.meta.with_(format=format_for(index.meta), files=files)
    meta_data = (json.dumps(typed_json.dump(meta), indent=2) + "\n").encode()
    return publish(Path(folder), {INDEX_FILE: data, LABELS_FILE: labels_data, META_FILE: meta_data}, wait)


def republish(folder: str | Path, change: Callable[[IndexMeta], IndexMeta], wait: float | None = None) -> Path:
    """Publish a new version of an existing index with the same index.faiss and labels.tsv (read and checked
    under the writers' lock) and the metadata `change(current meta)` returns, e.g. with a hedging fit added.
    Locked, atomic and crash-safe like `save_index`; `change` may raise ZsclfError (nothing is written)."""
    def files(real: Path) -> dict[str, bytes]:
        version = real / read_current(real)
        meta = read_meta_file(version / META_FILE)
        assert meta.files is not None
        data = {name: _read_checked(version / name, meta.files[name], what)
                for name, what in ((INDEX_FILE, "FAISS index"), (LABELS_FILE, "index labels"))}
        new = change(meta)
        new = new.with_(format=format_for(new), files=meta.files)
        return {**data, META_FILE: (json.dumps(typed_json.dump(new), indent=2) + "\n").encode()}

    read_current(Path(folder))  # an index must be there (a clear error, and no folder is made)
    return publish(Path(folder), files, wait)


def load_index(folder: str | Path) -> LabelIndex:
    """Load and check the current version of an index folder; anything damaged raises ZsclfError naming the file."""
    return _from_current(Path(folder), _load_version)


def read_meta(folder: str | Path) -> IndexMeta:
    """The current version's meta.json as IndexMeta, with a clear error when there is none or it is damaged."""
    return _from_current(Path(folder), lambda version: read_meta_file(version / META_FILE))


def current_version(folder: str | Path) -> Path:
    """The version folder CURRENT names (ZsclfError when there is none)."""
    folder = Path(folder)
    return folder / read_current(folder)


def read_meta_file(path: Path) -> IndexMeta:
    """A version's meta.json as IndexMeta (format 2, with the file checks)."""
    try:
        data = typed_json.read_json(path, "index metadata", 1 << 20)
    except ZsclfError:
        if not os.path.lexists(path):
            raise _Vanished(f"{path}: missing; rebuild the index") from None
        raise
    if not isinstance(data, dict) or data.get("format") not in FORMATS:
        found = data.get("format") if isinstance(data, dict) else "?"
        raise ZsclfError(f"{path}: index format {found} is not {FORMAT_VERSION}; rebuild the index with this zsclf")
    meta = typed_json.load(IndexMeta, data, str(path))
    if meta.format != format_for(meta):
        raise ZsclfError(f"{path}: field 'queries' does not match index format {meta.format}; rebuild the index")
    if meta.queries and not (meta.queries.top_t >= 1 and meta.queries.temperature > 0):
        raise ZsclfError(f"{path}: field 'queries' needs top_t >= 1 and temperature > 0; rebuild the index")
    missing = [name for name in (INDEX_FILE, LABELS_FILE) if name not in (meta.files or {})]
    if missing:
        raise ZsclfError(f"{path}: field 'files.{missing[0]}' is missing; rebuild the index")
    return meta


def _from_current(folder: Path, load: Callable[[Path], T]) -> T:
    """`load(version folder)` for the version CURRENT names, again from the new CURRENT when a file vanished
    because a writer replaced the version meanwhile."""
    for _ in range(LOAD_TRIES):
        name = read_current(folder)
        try:
            return load(folder / name)
        except _Vanished as exc:
            if _current_or_none(folder) == name:  # not a concurrent publish: the version is damaged
                raise ZsclfError(str(exc)) from None
    raise ZsclfError(f"{folder}: its {CURRENT} changed {LOAD_TRIES} times while loading; try again")


def _current_or_none(folder: Path) -> str | None:
    try:
        return read_current(folder)
    except ZsclfError:
        return None


def _load_version(version: Path) -> LabelIndex:
    meta = read_meta_file(version / META_FILE)
    assert meta.files is not None
    path = version / INDEX_FILE
    data = _read_checked(path, meta.files[INDEX_FILE], "FAISS index")
    if bytes(data[:4]) != MAGIC[meta.kind]:
        raise ZsclfError(f"{path}: not a FAISS {meta.kind} index (header {bytes(data[:4])!r}); rebuild it")
    index = _deserialize(data, path)
    if index.ntotal != meta.count or index.d != meta.dim:
        raise ZsclfError(f"{path}: holds {index.ntotal}x{index.d} vectors, meta.json says "
                         f"{meta.count}x{meta.dim}; rebuild it")
    vectors = stored_vectors(index)
    if vectors is not None and not all_finite(vectors):
        raise ZsclfError(f"{path}: holds vectors that are NaN or infinite; rebuild it")
    labels_path = version / LABELS_FILE
    ids, names, parents = _parse_labels(_read_checked(labels_path, meta.files[LABELS_FILE], "index labels"),
                                        labels_path)
    if len(names) != meta.count:
        raise ZsclfError(f"{labels_path}: {len(names)} labels, meta.json says {meta.count}; rebuild it")
    return LabelIndex(index, names, ids, meta, parents)


def _read_checked(path: Path, check: FileCheck, what: str) -> bytes:
    """The whole file, read once, checked against its size and CRC-32 in meta.json."""
    try:
        with open_regular(path) as fh:
            data = fh.read(check.bytes + 1)
    except FileNotFoundError:
        raise _Vanished(f"{path}: missing; rebuild the index") from None
    except OSError as exc:
        raise ZsclfError(f"{path}: cannot read {what}: {os_reason(exc)}") from None
    if len(data) != check.bytes:
        size = f"{len(data)}" if len(data) < check.bytes else f"more than {check.bytes}"  # it read one byte more
        raise ZsclfError(f"{path}: {size} bytes, meta.json says {check.bytes} (truncated or corrupt); "
                         "rebuild the index")
    if _crc32(data) != check.crc32:
        raise ZsclfError(f"{path}: checksum mismatch (the file is damaged); rebuild the index")
    return data


def _deserialize(data: bytes, path: Path):
    """A FAISS index over `data` without copying it: FAISS's ZeroCopyIOReader makes the vectors a view of
    `data` (read-only bytes), which is kept alive on the index object (`referenced_objects`, as FAISS itself
    does). Such an index is for search (and reconstruct, GPU copies, serialising) only: FAISS refuses add()
    to a viewed vector by aborting the process. Nothing in zsclf adds to a loaded index."""
    import faiss

    array = np.frombuffer(data, dtype=np.uint8)
    try:
        index = faiss.read_index(faiss.ZeroCopyIOReader(faiss.swig_ptr(array), array.size))
    except RuntimeError as exc:
        raise ZsclfError(f"{path}: corrupt FAISS index ({str(exc).splitlines()[0]}); rebuild it") from None
    index.referenced_objects = [array]
    return index


def labels_bytes(ids: list[str], names: list[str], parents: list[str]) -> bytes:
    """labels.tsv: `id label` per row, plus a `parent` column when some label has one."""
    if any(parents):
        rows = (f"{_clean(i)}\t{_clean(n)}\t{_clean(p)}\n" for i, n, p in zip(ids, names, parents, strict=True))
        return ("id\tlabel\tparent\n" + "".join(rows)).encode("utf-8")
    rows = (f"{_clean(i)}\t{_clean(n)}\n" for i, n in zip(ids, names, strict=True))
    return ("id\tlabel\n" + "".join(rows)).encode("utf-8")


def _parse_labels(data: bytes, path: Path) -> tuple[list[str], list[str], list[str] | None]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ZsclfError(f"{path}: index labels are not UTF-8 text ({exc.reason} at byte {exc.start}); "
                         "rebuild the index") from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    ids, names = [], []
    if not lines or lines[0] != "id\tlabel\tparent":
        for line in lines[1:]:
            label_id, _, name = line.partition("\t")
            ids.append(label_id)
            names.append(name)
        return ids, names, None
    parents = []
    for line in lines[1:]:
        label_id, _, rest = line.partition("\t")
        name, _, parent = rest.rpartition("\t") if "\t" in rest else (rest, "", "")
        ids.append(label_id)
        names.append(name)
        parents.append(parent)
    return ids, names, parents


def _file_check(data) -> FileCheck:
    return FileCheck(len(memoryview(data)), _crc32(data))


def _crc32(data) -> str:
    return f"{zlib.crc32(data):08x}"


def _clean(value: str) -> str:
    return value.replace("\t", " ").replace("\n", " ").replace("\r", " ")
