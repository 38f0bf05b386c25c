"""The fixed photo splits of the hedging fit and its held-out evaluation (FINDINGS of the hedging research).

* imagenet-sample: a seeded permutation (numpy default_rng(0)) of its 1,000 rows cut in two halves:
  half "a" (fit, 500 photos) and half "b" (held out, 500);
* birds50 and flowers12: their own train/ (fit) and test/ (held out) folders.

The shipped hedging defaults (labels/hedging-imagenet21k.json) were fitted on `fit.tsv` (imagenet half a +
birds50 train + flowers12 train); every hedging figure in the report is measured on the held-out files.
Manifests have absolute paths and the columns path, label, wnid, parent (birds50's hypernym_wnid for the
species WordNet lacks).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

HEADER = "path\tlabel\twnid\tparent\n"
SEED = 0


def _line(path: Path, label: str, wnid: str, parent: str = "") -> str:
    return f"{path.resolve()}\t{label}\t{wnid}\t{parent}\n"


def imagenet_half(data: Path, half: str) -> list[str]:
    """Manifest lines of imagenet-sample half 'a' (fit) or 'b' (held out)."""
    folder = data / "imagenet-sample"
    with (folder / "labels.tsv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    first = np.random.default_rng(SEED).permutation(len(rows)) < len(rows) // 2
    return [_line(folder / r["path"], r["name"], r["wnid"]) for r, a in zip(rows, first, strict=True)
            if a == (half == "a")]


def birds(data: Path, split: str) -> list[str]:
    """Manifest lines of birds50 train/ or test/ (seen goldfinch included; eval reports groups apart)."""
    folder = data / "birds50"
    with (folder / "labels.tsv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    return [_line(folder / r["path"], r["label"], r["wnid"], r["hypernym_wnid"]) for r in rows if r["split"] == split]


def flowers(data: Path, split: str) -> list[str]:
    """Manifest lines of flowers12 train/ or test/ (daisy, a CNN class, included)."""
    folder = data / "flowers12"
    with (folder / "labels.tsv").open(newline="", encoding="utf-8") as handle:
        rows = [r for r in csv.reader(handle, delimiter="\t") if len(r) >= 3]
    return [_line(folder / r[0], r[1], r[2]) for r in rows if r[0].startswith(split + "/")]


def manifest(data: Path, name: str) -> str:
    """One split manifest: fit, heldout (imagenet-b + birds-test + flowers-test), imagenet-a, imagenet-b,
    birds-train, birds-test, flowers-train, flowers-test."""
    parts = {
        "imagenet-a": lambda: imagenet_half(data, "a"), "imagenet-b": lambda: imagenet_half(data, "b"),
        "birds-train": lambda: birds(data, "train"), "birds-test": lambda: birds(data, "test"),
        "flowers-train": lambda: flowers(data, "train"), "flowers-test": lambda: flowers(data, "test"),
        "fit": lambda: imagenet_half(data, "a") + birds(data, "train") + flowers(data, "train"),
        "heldout": lambda: imagenet_half(data, "b") + birds(data, "test") + flowers(data, "test"),
    }
    return HEADER + "".join(parts[name]())


NAMES = ("fit", "heldout", "imagenet-a", "imagenet-b", "birds-train", "birds-test", "flowers-train", "flowers-test")


def gzsl_labels(data: Path) -> str:
    """Chao et al.'s generalised zero-shot label space: the CNN's 1,000 classes plus the unseen species of the
    held-out birds and flowers that are ImageNet-21K synsets, with the 21K label files' names and glosses (so
    their vectors equal the default index's)."""
    root = Path(__file__).resolve().parents[2] / "labels"
    rows: dict[str, list[str]] = {}
    for name in ("imagenet1k.tsv", "imagenet21k.tsv"):
        with (root / name).open(newline="", encoding="utf-8") as handle:
            for r in csv.DictReader(handle, delimiter="\t"):
                rows.setdefault(r["wnid"], [r["wnid"], r["name"], r["lemmas"], r["gloss"]])
    with (root / "imagenet1k.tsv").open(newline="", encoding="utf-8") as handle:
        seen = [r["wnid"] for r in csv.DictReader(handle, delimiter="\t")]
    unseen = sorted({line.split("\t")[2] for line in birds(data, "test") + flowers(data, "test")} - set(seen) - {""})
    keep = seen + [w for w in unseen if w in rows]
    return "wnid\tname\tlemmas\tgloss\n" + "".join("\t".join(rows[w]) + "\n" for w in keep)
