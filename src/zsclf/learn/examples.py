"""Example photos per label for photo-taught labels (`build-index --examples`): a folder per label, or a manifest."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..data.dataset import read_dataset


@dataclass
class ExampleSet:
    """Example photos per label (at most `shots` each, chosen reproducibly)."""

    names: list[str]
    ids: list[str]
    paths: list[list[str]]
    parents: list[str] = field(default_factory=list)  # a WNID above each label (from a `parent` column), or ""

    def __post_init__(self) -> None:
        self.parents = self.parents or [""] * len(self.names)

    @property
    def count(self) -> int:
        return sum(map(len, self.paths))


def read_examples(source: str | Path, shots: int | None = None, seed: int = 0) -> ExampleSet:
    """Group a folder tree or manifest by label; keep at most `shots` photos each (seeded shuffle of sorted paths)."""
    groups: dict[tuple[str, str], list[str]] = {}
    parent_of: dict[tuple[str, str], str] = {}
    for s in read_dataset(source):
        groups.setdefault((s.label, s.id), []).append(s.path)
        parent_of.setdefault((s.label, s.id), s.parent)
    rng = np.random.default_rng(seed)
    names, ids, chosen = [], [], []
    for (label, label_id), photos in groups.items():
        photos = sorted(photos)
        if shots is not None:
            photos = [photos[i] for i in sorted(rng.permutation(len(photos))[:shots])]
        names.append(label)
        ids.append(label_id)
        chosen.append(photos)
    return ExampleSet(names, ids, chosen, [parent_of[key] for key in groups])
