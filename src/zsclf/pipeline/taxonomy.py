"""The hierarchy of an index for hedged answers, with a display name and id per node, cached on disk.

Its labels are the index's labels (with their `parent` WNIDs) plus the CNN's classes the index lacks
(e.g. ImageNet-1K's teddy bear is not an ImageNet-21K label), so that the CNN's probability for them
still flows to their WordNet ancestors. Node names: the index's own label name, else the WordNet
display name (`labels/wordnet_names.tsv`, e.g. "vascular plant", "entity"), else the WNID.

Building it reads the WordNet files and takes ~0.5 s for the 21K index; the result is cached as
`models/cache/hierarchy-<key>.npz` (~3 MB, loads in a few ms), the key covering the index's labels
(their CRC-32 in meta.json), the hypernym and name files and the CNN's classes. A damaged or
inconsistent cache file is rebuilt.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core import paths
from ..core.fsio import atomic_file, open_regular
from ..index.label_index import LabelIndex
from ..index.store import LABELS_FILE
from .hierarchy import Hierarchy

CACHE_FORMAT = "2"
ARRAYS = ("label_node", "indptr", "indices", "under", "depth", "node_label", "class_label")
TEXTS = ("nodes", "names", "ids")


class Strings(Sequence[str]):
    """Strings stored as one UTF-8 blob and offsets, decoded one at a time when asked for (a cached
    taxonomy loads in a few ms: most of its 23,547 names are never shown)."""

    def __init__(self, blob: np.ndarray, offsets: np.ndarray) -> None:
        self.blob = blob
        self.offsets = offsets

    @classmethod
    def of(cls, values: Sequence[str]) -> Strings:
        encoded = [v.encode("utf-8", "surrogateescape") for v in values]
        offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum([len(e) for e in encoded], out=offsets[1:])
        return cls(np.frombuffer(b"".join(encoded), dtype=np.uint8), offsets)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        return self.blob[self.offsets[i]:self.offsets[i + 1]].tobytes().decode("utf-8", "surrogateescape")

    def valid(self) -> bool:
        """Offsets that fit the blob (a damaged cache fails this)."""
        o = self.offsets
        return len(o) >= 1 and o[0] == 0 and o[-1] == len(self.blob) and bool(np.all(np.diff(o) >= 0))


@dataclass
class Taxonomy:
    """A hierarchy with per-node display names and ids, and the label row of each CNN class."""

    hierarchy: Hierarchy
    names: Sequence[str]  # [M] display name of each node
    ids: Sequence[str]  # [M] WNID of each node (a label's own id for a label without a WNID)
    class_label: np.ndarray  # [C] hierarchy label row of each of the CNN's classes


def file_fingerprint(path: Path) -> str:
    """Size and modification time (ns) of a file, 'missing' when it is not there: part of the cache key (reading
    the 3.7 MB of WordNet files to checksum them would cost more than loading the cache)."""
    try:
        st = os.stat(path)
    except OSError:
        return "missing"
    return f"{st.st_size}-{st.st_mtime_ns}"


def labels_fingerprint(index: LabelIndex) -> str:
    """The index's labels: their CRC-32 from meta.json when the index was loaded, else a hash of them."""
    files = index.meta.files or {}
    if LABELS_FILE in files:
        return f"{files[LABELS_FILE].crc32}-{files[LABELS_FILE].bytes}-{len(index)}"
    digest = hashlib.sha256()
    for parts in zip(index.ids, index.names, index.parents, strict=True):
        digest.update("\t".join(parts).encode("utf-8", "surrogateescape") + b"\n")
    return digest.hexdigest()[:16]


def cache_key(index: LabelIndex, seen_key: str, labels_dir: Path) -> str:
    """Names the cache file: changes whenever anything the taxonomy is built from changes."""
    parts = [CACHE_FORMAT, labels_fingerprint(index), seen_key,
             file_fingerprint(labels_dir / "wordnet_hypernyms.tsv"), file_fingerprint(labels_dir / "wordnet_names.tsv")]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:20]


def build_taxonomy(index: LabelIndex, class_rows: np.ndarray, seen_ids: Sequence[str], seen_names: Sequence[str],
                   hypernyms: dict[str, list[str]], wordnet_names: dict[str, str]) -> Taxonomy:
    """The taxonomy of `index`; class_rows [C]: index row of each CNN class (-1 = missing, appended)."""
    missing = np.flatnonzero(class_rows < 0)
    label_ids = list(index.ids) + [seen_ids[c] for c in missing]
    label_names = list(index.names) + [seen_names[c] for c in missing]
    parents = list(index.parents) + [""] * len(missing)
    hierarchy = Hierarchy.build(label_ids, hypernyms, parents)
    class_label = np.asarray(class_rows, dtype=np.int64).copy()
    class_label[missing] = len(index) + np.arange(len(missing))
    names, ids = [], []
    for node, key in enumerate(hierarchy.nodes):
        row = int(hierarchy.node_label[node])
        names.append(label_names[row] if row >= 0 else wordnet_names.get(key, key))
        ids.append(label_ids[row] if key.startswith("#") else key)
    return Taxonomy(hierarchy, names, ids, class_label)


def save_taxonomy(taxonomy: Taxonomy, path: Path) -> None:
    """Write the arrays and the node keys, names and ids (as NUL-separated UTF-8) to an .npz file."""
    h = taxonomy.hierarchy
    arrays = {"label_node": h.label_node, "indptr": h.indptr, "indices": h.indices.astype(np.int32),
              "under": h.under, "depth": h.depth, "node_label": h.node_label, "class_label": taxonomy.class_label}
    for name, values in zip(TEXTS, (h.nodes, taxonomy.names, taxonomy.ids), strict=True):
        strings = values if isinstance(values, Strings) else Strings.of(values)
        arrays[name], arrays[f"{name}_offsets"] = strings.blob, strings.offsets
    with atomic_file(path) as fh:
        np.savez(fh, **arrays)


def load_taxonomy(path: Path, n_labels: int, n_classes: int) -> Taxonomy | None:
    """A cached taxonomy, or None when the file is missing, damaged or does not fit (then it is rebuilt)."""
    try:
        with open_regular(path) as fh, np.load(fh, allow_pickle=False) as data:
            a = {name: data[name] for name in ARRAYS}
            text = {name: Strings(data[name], data[f"{name}_offsets"]) for name in TEXTS}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
    m = len(text["nodes"])
    ok = (all(t.valid() for t in text.values()) and len(text["names"]) == len(text["ids"]) == m
          and len(a["label_node"]) >= n_labels
          and len(a["class_label"]) == n_classes and len(a["indptr"]) == len(a["label_node"]) + 1
          and len(a["under"]) == len(a["depth"]) == len(a["node_label"]) == m
          and int(a["indptr"][-1]) == len(a["indices"]) and bool(np.all(np.diff(a["indptr"]) >= 0))
          and (len(a["indices"]) == 0 or 0 <= int(a["indices"].min()) <= int(a["indices"].max()) < m)
          and (len(a["label_node"]) == 0 or 0 <= int(a["label_node"].min()) <= int(a["label_node"].max()) < m)
          and bool(np.all((a["class_label"] >= 0) & (a["class_label"] < len(a["label_node"])))))
    if not ok:
        return None
    h = Hierarchy(text["nodes"], a["label_node"].astype(np.int64), a["indptr"].astype(np.int64),
                  a["indices"].astype(np.int64), a["under"].astype(np.int64), a["depth"].astype(np.int64),
                  a["node_label"].astype(np.int64))
    return Taxonomy(h, text["names"], text["ids"], a["class_label"].astype(np.int64))


SeenClasses = Callable[[], tuple[np.ndarray, list[str], list[str]]]


def taxonomy_for(index: LabelIndex, classes: SeenClasses, seen_key: str, n_classes: int,
                 cache: Path | None = None) -> Taxonomy:
    """The index's taxonomy from the cache, or built from the WordNet files and cached (see the module doc).
    `classes()` gives the CNN's classes (index rows, ids, names), read only to build; `seen_key` identifies
    them in the cache key; `n_classes`: how many there are."""
    from ..data.labels import read_hypernyms, read_wordnet_names

    labels_dir = paths.labels_dir()
    path = (cache or paths.cache_dir()) / f"hierarchy-{cache_key(index, seen_key, labels_dir)}.npz"
    found = load_taxonomy(path, len(index), n_classes)
    if found is not None:
        return found
    class_rows, seen_ids, seen_names = classes()
    taxonomy = build_taxonomy(index, class_rows, seen_ids, seen_names, read_hypernyms(), read_wordnet_names())
    try:
        save_taxonomy(taxonomy, path)
    except OSError:  # a read-only cache only costs the next run the same work
        pass
    return taxonomy
