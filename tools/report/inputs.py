"""Facts read from the evaluation data, and the small input files the report writes from them."""

from __future__ import annotations

import csv
from collections import Counter
from functools import cache
from pathlib import Path

from .runner import ROOT, ReportError

LABELS_1K = ROOT / "labels" / "imagenet1k.tsv"


def imagenet_manifest(data: Path) -> Path:
    """The ImageNet sample's manifest (header: path, class_index, wnid, name)."""
    return data / "imagenet-sample" / "labels.tsv"


def flowers_manifest(data: Path) -> Path:
    """The flowers manifest (no header: path, label, wnid)."""
    return data / "flowers12" / "labels.tsv"


def flower_rows(data: Path) -> list[tuple[str, str, str]]:
    """The (path, label, wnid) rows of the flowers manifest."""
    with flowers_manifest(data).open(newline="", encoding="utf-8") as handle:
        return [(row[0], row[1].strip(), row[2].strip()) for row in csv.reader(handle, delimiter="\t") if len(row) >= 3]


@cache
def flower_species(data: Path) -> dict[str, str]:
    """WNID -> species name, the unique pairs in the flowers manifest, sorted by name."""
    species: dict[str, str] = {}
    for _, label, wnid in flower_rows(data):
        species.setdefault(wnid, label)
    if not species:
        raise ReportError(f"{flowers_manifest(data)}: no (path, label, wnid) rows")
    return dict(sorted(species.items(), key=lambda item: item[1]))


def species_part(data: Path, part: str) -> list[str]:
    """The species WNIDs of `part`: 'all', or the alphabetical 'first' half, or the 'second' (the rest)."""
    wnids = list(flower_species(data))
    half = len(wnids) // 2
    return {"all": wnids, "first": wnids[:half], "second": wnids[half:]}[part]


def species_tsv(data: Path, part: str = "all") -> str:
    """A `wnid name` label list of the species in `part`."""
    names = flower_species(data)
    return "wnid\tname\n" + "".join(f"{wnid}\t{names[wnid]}\n" for wnid in species_part(data, part))


def split_manifest(data: Path, split: str, part: str = "all") -> str:
    """A manifest (path, label, wnid; absolute paths) of one flowers split, limited to the species in `part`."""
    keep = set(species_part(data, part))
    lines = [f"{(data / 'flowers12' / path).resolve()}\t{label}\t{wnid}\n" for path, label, wnid in flower_rows(data)
             if path.startswith(split + "/") and wnid in keep]
    return "path\tlabel\twnid\n" + "".join(lines)


def per_species(data: Path, split: str) -> str:
    """How many photos each species has in a flowers split: '60', or '55–60' when they differ."""
    counts = Counter(wnid for path, _, wnid in flower_rows(data) if path.startswith(split + "/"))
    low, high = min(counts.values(), default=0), max(counts.values(), default=0)
    return f"{low}" if low == high else f"{low}–{high}"


@cache
def imagenet_names(data: Path) -> dict[str, str]:
    """WNID -> class name for the ImageNet sample (for naming unmatched WNIDs)."""
    with imagenet_manifest(data).open(newline="", encoding="utf-8") as handle:
        return {row["wnid"]: row["name"] for row in csv.DictReader(handle, delimiter="\t")}


@cache
def seen_wnids() -> frozenset[str]:
    """The WNIDs of the CNN's 1,000 training classes (labels/imagenet1k.tsv)."""
    with LABELS_1K.open(newline="", encoding="utf-8") as handle:
        return frozenset(row["wnid"] for row in csv.DictReader(handle, delimiter="\t"))
