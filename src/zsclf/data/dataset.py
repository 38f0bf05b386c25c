"""Labelled image sets for eval and training: an image-folder tree or a TSV/CSV manifest."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from ..errors import ZsclfError
from .image_files import walk_images

PATH_COLUMNS = ("path", "image", "image_path", "file", "filename")
LABEL_COLUMNS = ("label", "name", "class", "class_name")
ID_COLUMNS = ("id", "wnid", "synset", "label_id")


@dataclass(frozen=True)
class Sample:
    """One labelled image: its path, label text and (optional) label id such as a WNID."""

    path: str
    label: str
    id: str = ""


def read_dataset(source: str | Path, only: str | None = None) -> list[Sample]:
    """Samples from a folder tree (folder name = label) or a manifest (path, label and/or id).

    A manifest's header names its columns; a file without a recognisable header is read as
    (path, label[, id]). Relative paths are relative to the manifest's folder. `only` keeps the
    samples whose path (as written in the manifest, or relative to the folder) starts with it.
    """
    source = Path(source)
    if source.is_dir():
        samples = [Sample(str(p), p.parent.name) for p in walk_images(source)]
        if only:
            samples = [s for s in samples if str(Path(s.path).relative_to(source)).startswith(only)]
    elif source.is_file():
        samples = _read_manifest(source, only)
    else:
        raise ZsclfError(f"{source}: no such folder or manifest")
    if not samples:
        raise ZsclfError(f"{source}: no labelled images found" + (f" under {only!r}" if only else ""))
    return samples


def _read_manifest(path: Path, only: str | None) -> list[Sample]:
    text = path.read_text(encoding="utf-8-sig")
    delimiter = "," if path.suffix.lower() == ".csv" else "\t"
    rows = [r for r in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter) if any(c.strip() for c in r)]
    if not rows:
        return []
    header = [c.strip().lower() for c in rows[0]]
    pick = lambda names: next((header.index(n) for n in names if n in header), None)  # noqa: E731
    path_col = pick(PATH_COLUMNS)
    if path_col is not None:
        label_col, id_col, rows = pick(LABEL_COLUMNS), pick(ID_COLUMNS), rows[1:]
        if label_col is None and id_col is None:
            raise ZsclfError(f"{path}: header {rows and header} names no label or id column")
    else:
        path_col, label_col, id_col = 0, 1, (2 if len(rows[0]) > 2 else None)
    base = path.parent
    samples = []
    for row in rows:
        rel = row[path_col].strip()
        if only and not rel.startswith(only):
            continue
        label = row[label_col].strip() if label_col is not None else ""
        label_id = row[id_col].strip() if id_col is not None else ""
        samples.append(Sample(str(base / rel), label or label_id, label_id))
    return samples
