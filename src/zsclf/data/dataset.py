"""Labelled image sets for eval and training: an image-folder tree or a TSV/CSV manifest."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import ZsclfError
from .image_files import walk_images
from .labels import PARENT_COLUMNS
from .tables import cell, pick_column, read_table

PATH_COLUMNS = ("path", "image", "image_path", "file", "filename")
LABEL_COLUMNS = ("label", "name", "class", "class_name")
ID_COLUMNS = ("id", "wnid", "synset", "label_id")


@dataclass(frozen=True)
class Sample:
    """One labelled image: its path, label text, (optional) label id such as a WNID and, for a label that is
    not a WordNet synset, (optional) the WNID it belongs under (`parent`/`hypernym_wnid` column)."""

    path: str
    label: str
    id: str = ""
    parent: str = ""


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
    else:
        samples = _read_manifest(source, only)
    if not samples:
        raise ZsclfError(f"{source}: no labelled images found" + (f" under {only!r}" if only else ""))
    return samples


def empty_label_folders(source: str | Path) -> list[str]:
    """Sub-folders of a folder tree that hold no image (a label with no photos); [] for a manifest."""
    source = Path(source)
    if not source.is_dir():
        return []
    return sorted(d.name for d in source.iterdir()
                  if d.is_dir() and not d.name.startswith(".") and next(walk_images(d), None) is None)


def _read_manifest(path: Path, only: str | None) -> list[Sample]:
    rows = [(n, r) for n, r in read_table(path, "manifest") if any(c.strip() for c in r)]
    if not rows:
        return []
    header = rows[0][1]
    path_col = pick_column(header, PATH_COLUMNS)
    if path_col is not None:
        label_col, id_col, rows = pick_column(header, LABEL_COLUMNS), pick_column(header, ID_COLUMNS), rows[1:]
        parent_col = pick_column(header, PARENT_COLUMNS)
        if label_col is None and id_col is None:
            raise ZsclfError(f"{path}: header {header} names no label or id column")
    else:
        path_col, label_col, id_col, parent_col = 0, 1, (2 if len(header) > 2 else None), None
    samples = []
    for lineno, row in rows:
        rel = cell(path, lineno, row, path_col)
        if only and not rel.startswith(only):
            continue
        label, label_id = cell(path, lineno, row, label_col), cell(path, lineno, row, id_col)
        if not rel or not (label or label_id):
            raise ZsclfError(f"{path}:{lineno}: a row needs a path and a label or id")
        samples.append(Sample(str(path.parent / rel), label or label_id, label_id, cell(path, lineno, row, parent_col)))
    return samples


def match_samples(samples: Sequence[Sample], ids: Sequence[str], names: Sequence[str]) -> tuple[list[int], Counter]:
    """Index row of each sample's true label: by id when both sides have ids (falling back to the label
    text for an id the index lacks), else by exact label text.

    Returns the rows (-1 = unmatched) and a Counter of unmatched ground-truth labels.
    """
    by_id = {label_id: i for i, label_id in enumerate(ids) if label_id}
    by_name = {name: i for i, name in enumerate(names)}
    rows, unmatched = [], Counter()
    for s in samples:
        row = by_id.get(s.id, -1) if (s.id and by_id) else -1
        if row < 0:
            row = by_name.get(s.label, -1)
        rows.append(row)
        if row < 0:
            unmatched[s.id or s.label] += 1
    return rows, unmatched
