"""Building label indexes: text-only labels, labels taught by example photos, text or visual space.

* text space: label vectors are text embeddings; a photo-taught label is the normalised mean of
  its photos' projected queries (ConSE or a DeViSE projection).
* visual space (DEM): label vectors live in the CNN's feature space, centred on the expected
  feature (from batch-norm statistics; an index of photo prototypes alone uses square-root
  power normalisation instead, see VisualProjection) and normalised; a photo-taught label is the normalised
  mean of its photos' vectors (a prototype), a seen class is its classifier row, and any other
  text label is mapped there by a ridge map fitted on (text embedding, classifier row) pairs of
  the 1,000 ImageNet classes.
* calibration: when text-taught and photo-taught labels share an index, every label vector v_j
  is z-scored against a reference set R of queries (the example photos plus 1,000 seen-class
  pseudo-queries: classifier rows, or seen-class embeddings in the text space): the index stores
  [v_j / s_j, -m_j / s_j], where m_j, s_j are the mean and spread of R.v_j, and queries get a 1
  appended. A score is then "how many standard deviations above a typical image" for every
  label, whichever way it was taught; this also damps hubs (labels close to everything).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from . import __version__
from .dataset import read_dataset
from .errors import ZsclfError
from .index import LabelIndex, normalize
from .labels import DEFAULT_TEMPLATE, LabelSet, effective_template, imagenet1k, read_labels
from .projection import Projection, VisualProjection, cached_seen_embeddings
from .text import TextEncoder

SPACES = ("text", "visual")


def seen_class_embeddings(text: TextEncoder, template: str) -> np.ndarray:
    """The ImageNet-1K classes embedded with `text` and `template` (cached next to the models)."""
    seen = imagenet1k()
    return cached_seen_embeddings(text.sha256, template, seen.texts(template), text.embed)


def classifier_rows(encoder) -> np.ndarray:
    """The CNN's final-layer weight rows [1000, F] (exported next to the ONNX model)."""
    return visual_statistics(encoder)[0]


def visual_statistics(encoder) -> tuple[np.ndarray, np.ndarray]:
    """Classifier rows [1000, F] and the expected feature [F] (exported next to the ONNX model)."""
    name = encoder.spec.entry.get("classifier")
    path = encoder.spec.path.parent / name if name else None
    if path is None or not path.is_file():
        raise ZsclfError(f"classifier weights of {encoder.name} are missing: re-run `make setup`")
    return _load_visual_statistics(str(path), encoder.spec.entry.get("classifier_sha256", ""))


@lru_cache(maxsize=4)
def _load_visual_statistics(path: str, sha256: str) -> tuple[np.ndarray, np.ndarray]:
    """One read per file and content (a visual-space build asks for it several times)."""
    with np.load(path) as data:
        return data["weight"].astype(np.float32), data["feature_mean"].astype(np.float32)


def text_to_visual(text: TextEncoder, template: str, encoder, alpha: float = 0.1) -> np.ndarray:
    """Ridge map [F, D] from label embeddings to the visual space, fitted on the 1,000 seen classes."""
    from .train import text_to_visual_map

    return text_to_visual_map(seen_class_embeddings(text, template), classifier_rows(encoder), alpha)


@dataclass
class ExampleSet:
    """Example photos per label (at most `shots` each, chosen reproducibly)."""

    names: list[str]
    ids: list[str]
    paths: list[list[str]]

    @property
    def count(self) -> int:
        return sum(map(len, self.paths))


def read_examples(source: str | Path, shots: int | None = None, seed: int = 0) -> ExampleSet:
    """Group a folder tree or manifest by label; keep at most `shots` photos each (seeded shuffle of sorted paths)."""
    groups: dict[tuple[str, str], list[str]] = {}
    for s in read_dataset(source):
        groups.setdefault((s.label, s.id), []).append(s.path)
    rng = np.random.default_rng(seed)
    names, ids, chosen = [], [], []
    for (label, label_id), photos in groups.items():
        photos = sorted(photos)
        if shots is not None:
            photos = [photos[i] for i in sorted(rng.permutation(len(photos))[:shots])]
        names.append(label)
        ids.append(label_id)
        chosen.append(photos)
    return ExampleSet(names, ids, chosen)


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


def calibrate(vectors: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, dict]:
    """[v / s, -m / s] per label, m and s being the mean and spread of reference . v (see module doc)."""
    scores = normalize(reference) @ vectors.T
    mean, spread = scores.mean(axis=0), scores.std(axis=0) + 1e-6
    calibrated = np.hstack([vectors / spread[:, None], (-mean / spread)[:, None]]).astype(np.float32)
    return calibrated, {"method": "per-label z-score", "reference_queries": len(reference)}


def _split_labels(labels: LabelSet | None, examples: ExampleSet | None) -> tuple[LabelSet | None, int]:
    """Drop text-only labels that are also taught by photos (photos win); returns the rest and the count dropped."""
    if labels is None or examples is None:
        return labels, 0
    taught = {i for i in examples.ids if i} | set(examples.names)
    keep = [j for j, (n, i) in enumerate(zip(labels.names, labels.ids, strict=True)) if (i or n) not in taught
            and n not in taught]
    rest = LabelSet([labels.names[j] for j in keep], [labels.ids[j] for j in keep],
                    [labels.synonyms[j] for j in keep], [labels.descriptions[j] for j in keep])
    return rest, len(labels) - len(keep)


def build_index(labels: LabelSet | str | Path | None, text: TextEncoder, template: str = DEFAULT_TEMPLATE,
                kind: str = "flat", space: str = "text", examples: ExampleSet | None = None,
                encoder=None, projection: Projection | None = None,
                progress: Callable[[int], None] | None = None, source: str = "") -> LabelIndex:
    """Embed text labels and/or photo-taught labels into one index in the text or visual space."""
    if space not in SPACES:
        raise ZsclfError(f"unknown space {space!r}: choose text or visual")
    if labels is not None and not isinstance(labels, LabelSet):
        source = source or Path(labels).name
        labels = read_labels(labels)
    labels, replaced = _split_labels(labels, examples)
    if (labels is None or len(labels) == 0) and examples is None:
        raise ZsclfError("nothing to index: give a label file and/or --examples")
    if labels is not None and len(labels):
        template = effective_template(labels, template)
    all_names = (labels.names if labels is not None else []) + (examples.names if examples else [])
    if len(set(all_names)) != len(all_names):
        dup = Counter(all_names).most_common(1)[0][0]
        raise ZsclfError(f"label {dup!r} appears twice; label names must be unique (ids may differ)")
    if (examples is not None or space == "visual") and encoder is None:
        raise ValueError("photo-taught labels and the visual space need the image encoder")
    names, ids, parts = [], [], []
    meta: dict = {"space": space, "template": template, "source": source, "zsclf_version": __version__,
                  "text_encoder": {"name": text.name, "sha256": text.sha256, "dim": text.dim}}
    if labels is not None and len(labels):
        vectors = text.embed(labels.texts(template), progress=progress)
        if space == "visual":
            vectors = normalize(vectors @ text_to_visual(text, template, encoder).T)
            seen = {wnid: c for c, wnid in enumerate(imagenet1k().ids)}
            rows = classifier_rows(encoder)
            is_seen = [j for j, label_id in enumerate(labels.ids) if label_id in seen]
            for j in is_seen:  # a class the CNN was trained on already has its visual vector
                vectors[j] = rows[seen[labels.ids[j]]]
            meta["text_to_visual"] = {"map": "ridge (alpha 0.1) on 1,000 (label embedding, classifier row) pairs",
                                      "seen_labels_as_classifier_rows": len(is_seen)}
        names += labels.names
        ids += labels.ids
        parts.append(normalize(vectors))
    reference = None
    if examples is not None:
        from .features import encode_images

        flat = [p for photos in examples.paths for p in photos]
        encoded = encode_images(encoder, flat, progress=progress)
        if encoded.errors:
            first = next(iter(encoded.errors.values()))
            raise ZsclfError(f"{len(encoded.errors)} example photos could not be read (first: {first})")
        if space == "visual":
            transform = "centre" if len(parts) else "sqrt"  # text labels present: centre (see VisualProjection)
            projection = VisualProjection(visual_statistics(encoder)[1], transform)
            meta["visual_transform"] = transform
        queries = projection.project(encoded.features, encoded.logits)
        start, protos = 0, []
        for photos in examples.paths:
            protos.append(queries[start:start + len(photos)].mean(axis=0))
            start += len(photos)
        names += examples.names
        ids += examples.ids
        parts.append(normalize(np.stack(protos)))
        pseudo = (normalize(classifier_rows(encoder)) if space == "visual"
                  else seen_class_embeddings(text, template))
        reference = np.vstack([queries, pseudo])
        meta["photos"] = {"labels": len(examples.names), "photos": examples.count,
                          "replaced_text_labels": replaced,
                          "projection": getattr(projection, "name", "visual") if space == "text" else "visual"}
    if space == "visual":
        meta.setdefault("visual_transform", "centre")
    if space == "visual" or examples is not None:
        meta["image_encoder"] = {"name": encoder.name, "sha256": encoder.spec.sha256}
    if space == "text" and projection is not None and getattr(projection, "name", "") == "devise":
        meta["projection"] = {"name": "devise", "sha256": projection.meta.get("sha256", "")}
    vectors = np.vstack(parts)
    if reference is not None and len(parts) > 1:  # text-taught and photo-taught labels side by side
        vectors, meta["calibration"] = calibrate(vectors, reference)
    plain = "calibration" not in meta
    index = LabelIndex.build(vectors, names, ids, meta, kind=kind, normalise=plain)
    if kind == "hnsw":
        exact = LabelIndex.build(vectors, names, ids, meta, kind="flat", normalise=plain)
        index.meta["hnsw_recall_at_10"] = round(hnsw_recall(index, exact), 4)
    if space == "text":
        seen_class_embeddings(text, template)
    return index


def build_text_index(labels: LabelSet | str | Path, text: TextEncoder, template: str = DEFAULT_TEMPLATE,
                     kind: str = "flat", progress: Callable[[int], None] | None = None,
                     source: str = "") -> LabelIndex:
    """Text-only labels in the text space (the default index)."""
    return build_index(labels, text, template, kind, progress=progress, source=source)
