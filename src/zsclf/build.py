"""Turning a label file into a label index (text space), and the seen-class matrix ConSE needs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from . import __version__
from .index import LabelIndex
from .labels import DEFAULT_TEMPLATE, LabelSet, imagenet1k, read_labels
from .projection import cached_seen_embeddings
from .text import TextEncoder


def seen_class_embeddings(text: TextEncoder, template: str) -> np.ndarray:
    """The ImageNet-1K classes embedded with `text` and `template` (cached next to the models)."""
    seen = imagenet1k()
    return cached_seen_embeddings(text.sha256, template, seen.texts(template), text.embed)


def hnsw_recall(index: LabelIndex, exact: LabelIndex, k: int = 10, queries: int = 500, seed: int = 0) -> float:
    """Recall@k of an approximate index against the exact one, on queries mixed from pairs of labels."""
    rng = np.random.default_rng(seed)
    vectors = exact.vectors()
    pairs = rng.integers(0, len(vectors), size=(queries, 2))
    weights = rng.uniform(0.3, 0.7, size=(queries, 1)).astype(np.float32)
    q = weights * vectors[pairs[:, 0]] + (1 - weights) * vectors[pairs[:, 1]]
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    truth = exact.search(q, k).rows
    found = index.search(q, k).rows
    hits = sum(len(set(t) & set(f)) for t, f in zip(truth, found, strict=True))
    return hits / truth.size


def build_text_index(labels: LabelSet | str | Path, text: TextEncoder, template: str = DEFAULT_TEMPLATE,
                     kind: str = "flat", progress: Callable[[int], None] | None = None,
                     source: str = "") -> LabelIndex:
    """Embed each label's text and index it; also makes sure ConSE's seen-class matrix is cached."""
    if not isinstance(labels, LabelSet):
        source = source or Path(labels).name
        labels = read_labels(labels)
    texts = labels.texts(template)
    embeddings = text.embed(texts, progress=progress)
    meta = {
        "space": "text",
        "template": template,
        "text_encoder": {"name": text.name, "sha256": text.sha256, "dim": text.dim},
        "source": source,
        "zsclf_version": __version__,
    }
    index = LabelIndex.build(embeddings, labels.names, labels.ids, meta, kind=kind)
    if kind == "hnsw":
        exact = LabelIndex.build(embeddings, labels.names, labels.ids, meta, kind="flat")
        index.meta["hnsw_recall_at_10"] = round(hnsw_recall(index, exact), 4)
    seen_class_embeddings(text, template)
    return index
