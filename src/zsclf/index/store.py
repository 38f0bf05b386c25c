"""The index folder on disk, written atomically and checked before FAISS reads it.

    <index>/index.faiss   the FAISS index (flat = exact, or HNSW = approximate)
    <index>/labels.tsv    id, label (row i = FAISS id i)
    <index>/meta.json     IndexMeta: format, encoders, dimension, metric, count, template, space, ...
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from ..core import typed_json
from ..core.fsio import read_text
from ..errors import ZsclfError
from .label_index import LabelIndex
from .meta import FORMAT_VERSION, IndexMeta

INDEX_FILE, LABELS_FILE, META_FILE = "index.faiss", "labels.tsv", "meta.json"
FLAT_HEADER_BYTES = 45  # IndexFlatIP file: fourcc + header + vector length, then n*d float32


def save_index(index: LabelIndex, folder: str | Path) -> Path:
    """Write the index folder atomically: a temp folder beside it, then a rename."""
    import faiss

    folder = Path(folder)
    if folder.exists() and not (folder.is_dir() and (folder / META_FILE).is_file()):
        raise ZsclfError(f"{folder}: exists and is not a zsclf index; choose another --output")
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".tmp", dir=folder.parent))
    try:
        faiss.write_index(index.faiss_index, str(tmp / INDEX_FILE))
        with open(tmp / LABELS_FILE, "w", encoding="utf-8", newline="\n") as fh:
            fh.write("id\tlabel\n")
            for label_id, name in zip(index.ids, index.names, strict=True):
                fh.write(f"{_clean(label_id)}\t{_clean(name)}\n")
        (tmp / META_FILE).write_text(json.dumps(typed_json.dump(index.meta), indent=2) + "\n")
        os.chmod(tmp, 0o755)
        _replace_dir(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def load_index(folder: str | Path) -> LabelIndex:
    """Load and validate an index folder; a damaged one raises ZsclfError, never crashes FAISS."""
    import faiss

    folder = Path(folder)
    meta = read_meta(folder)
    index_path = folder / INDEX_FILE
    _check_index_file(index_path, meta)
    try:
        index = faiss.read_index(str(index_path))
    except RuntimeError as exc:
        raise ZsclfError(f"{index_path}: corrupt FAISS index ({str(exc).splitlines()[0]}); rebuild it") from None
    if index.ntotal != meta.count or index.d != meta.dim:
        raise ZsclfError(f"{index_path}: holds {index.ntotal}x{index.d} vectors, meta.json says "
                         f"{meta.count}x{meta.dim}; rebuild it")
    ids, names = _read_labels(folder / LABELS_FILE)
    if len(names) != meta.count:
        raise ZsclfError(f"{folder / LABELS_FILE}: {len(names)} labels, meta.json says {meta.count}; rebuild it")
    return LabelIndex(index, names, ids, meta)


def read_meta(folder: Path) -> IndexMeta:
    """meta.json of an index folder as IndexMeta, with a clear error when it is missing or damaged."""
    meta_path = folder / META_FILE
    if not folder.is_dir():
        raise ZsclfError(f"{folder}: no index there (build one with `zsclf build-index LABELS -o {folder}`)")
    if not meta_path.exists():
        raise ZsclfError(f"{folder}: not a zsclf index (no {META_FILE})")
    data = typed_json.read_json(meta_path, "index metadata", 1 << 20)
    if not isinstance(data, dict) or data.get("format") != FORMAT_VERSION:
        found = data.get("format") if isinstance(data, dict) else "?"
        raise ZsclfError(f"{meta_path}: index format {found} is not {FORMAT_VERSION}; "
                         "rebuild the index with this zsclf")
    return typed_json.load(IndexMeta, data, str(meta_path))


def _clean(value: str) -> str:
    return value.replace("\t", " ").replace("\n", " ").replace("\r", " ")


def _replace_dir(new: Path, target: Path) -> None:
    """Put `new` in place of `target`; an existing target is swapped out, then deleted."""
    if target.exists():
        old = target.with_name(f".{target.name}.old-{int(time.time() * 1000)}")
        os.replace(target, old)
        os.replace(new, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(new, target)


def _check_index_file(path: Path, meta: IndexMeta) -> None:
    """Cheap checks before FAISS parses the file (FAISS can abort on some damaged inputs)."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            magic = fh.read(4)
    except FileNotFoundError:
        raise ZsclfError(f"{path}: missing; rebuild the index") from None
    expected_magic = {"flat": b"IxFI", "hnsw": b"IHNf"}[meta.kind]
    if magic != expected_magic:
        raise ZsclfError(f"{path}: not a FAISS {meta.kind} index (header {magic!r}); rebuild it")
    if meta.kind == "flat":
        expected = FLAT_HEADER_BYTES + 4 * meta.count * meta.dim
        if size != expected:
            raise ZsclfError(f"{path}: {size} bytes, expected {expected} for {meta.count}x{meta.dim} "
                             "(truncated or corrupt); rebuild it")


def _read_labels(path: Path) -> tuple[list[str], list[str]]:
    if not path.exists():
        raise ZsclfError(f"{path}: missing; rebuild the index")
    lines = read_text(path, "index labels", 1 << 30).split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    ids, names = [], []
    for line in lines[1:]:
        label_id, _, name = line.partition("\t")
        ids.append(label_id)
        names.append(name)
    return ids, names
