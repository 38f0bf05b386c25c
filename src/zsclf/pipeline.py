"""Streaming prediction: paths -> decoded batches (threads) -> encoder -> projection -> label search.

Concurrency on the CPU: one single-threaded ONNX Runtime run per core, on different batches at
once, while decoder threads prepare the next batches. Measured here on 2 cores (320 ImageNet
JPEGs), this beat one two-threaded run per batch: 154 vs 141 images/s end to end, because an
intra-op thread pre-empted by a decoder no longer stalls the whole operator. Memory stays
bounded (a few batches in flight, whatever the number of inputs); results come in input order.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import paths
from .device import SessionConfig, default_threads, use_faiss_gpu
from .encoder import ImageEncoder
from .errors import ZsclfError
from .images import decode_batches, preprocess, to_rgb
from .index import LabelIndex, SearchResult, configure_faiss
from .manifest import load_manifest
from .projection import DEFAULT_TOP_T, ConSE, Projection, softmax


@dataclass(frozen=True)
class Prediction:
    """One ranked label for an image. `score`: cosine similarity in the index's space; a z-score in a
    calibrated index; the CNN's probability for images answered by the seen gate."""

    label: str
    id: str
    score: float


@dataclass(frozen=True)
class Result:
    """The outcome for one input: predictions, or an error message."""

    path: str
    predictions: list[Prediction] | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def check_text_encoder(meta: dict, index_dir: Path) -> None:
    """Refuse an index whose text encoder is not the one installed (its vectors would be meaningless)."""
    built = meta["text_encoder"]
    manifest = load_manifest()
    entry = manifest["models"].get(built.get("name", ""))
    if entry is None or entry.get("sha256") != built.get("sha256"):
        have = manifest.get("default_text_model", "?")
        have_sha = manifest["models"].get(have, {}).get("sha256", "?")
        raise ZsclfError(f"index {index_dir} was built with text encoder {built.get('name')} "
                         f"(sha256 {str(built.get('sha256'))[:12]}), but this install has {have} "
                         f"(sha256 {have_sha[:12]}): rebuild it with `zsclf build-index`")


def conse_for_index(meta: dict, top_t: int = DEFAULT_TOP_T) -> ConSE:
    """ConSE whose seen-class embeddings use the index's text encoder and template (cached)."""
    from .labels import imagenet1k
    from .projection import cached_seen_embeddings

    template = meta["template"]
    texts = imagenet1k().texts(template)

    def embed(batch: list[str]) -> np.ndarray:
        from .text import TextEncoder

        return TextEncoder.load(meta["text_encoder"]["name"], SessionConfig(device="cpu")).embed(batch)

    seen = cached_seen_embeddings(meta["text_encoder"]["sha256"], template, texts, embed)
    return ConSE(seen, top_t)


def apply_seen_gate(result: SearchResult, probs: np.ndarray, class_rows: np.ndarray,
                    gate: float) -> tuple[SearchResult, np.ndarray]:
    """Replace the answers of images whose top class reaches probability `gate` *and is in the index* by
    the CNN's classes (see Classifier.search): the seen classes the index holds, in the CNN's order;
    if the index holds fewer than k of them, the free places keep the earlier answers.
    Returns the result and a mask of the gated images."""
    rows, scores = result.rows.copy(), result.scores.copy()
    present = class_rows >= 0
    top = probs.argmax(axis=1)
    gated = (probs.max(axis=1) >= gate) & present[top]
    for i in np.flatnonzero(gated):
        order = np.argsort(-probs[i])
        order = order[present[order]][: rows.shape[1]]
        taken = set(class_rows[order].tolist())
        keep = [j for j, r in enumerate(result.rows[i]) if r not in taken]
        rows[i] = np.concatenate([class_rows[order], result.rows[i, keep]])[: rows.shape[1]]
        scores[i] = np.concatenate([probs[i, order], result.scores[i, keep]])[: rows.shape[1]]
    return SearchResult(scores, rows), gated


def projection_for_index(meta: dict, index_dir: Path, encoder: ImageEncoder, top_t: int = DEFAULT_TOP_T,
                         projection_file: str | Path | None = None) -> Projection:
    """The query projection an index was built for, checked against the encoder and the index."""
    from .projection import Calibrated, VisualProjection, check_projection, load_projection

    built_for = meta.get("image_encoder")
    if built_for and built_for["sha256"] != encoder.spec.sha256:
        raise ZsclfError(f"index {index_dir} was built with image encoder {built_for['name']}, not "
                         f"{encoder.name}: rebuild it or pass the matching --model")
    if meta["space"] == "visual":
        if projection_file:
            raise ZsclfError(f"index {index_dir} is in the visual space: it takes no --projection")
        from .build import visual_statistics

        base: Projection = VisualProjection(visual_statistics(encoder)[1], meta.get("visual_transform", "centre"))
    elif projection_file:
        base = load_projection(projection_file)
        check_projection(base, encoder.spec.sha256, meta, str(projection_file))
        built_with = meta.get("projection", {}).get("sha256")
        if built_with and built_with != base.meta["sha256"]:
            raise ZsclfError(f"index {index_dir} was built with another DeViSE projection than {projection_file}")
    elif meta.get("projection", {}).get("name") == "devise":
        raise ZsclfError(f"index {index_dir} holds photo-taught labels made with a DeViSE projection: "
                         "pass the same --projection")
    else:
        base = conse_for_index(meta, top_t)
    return Calibrated(base) if meta.get("calibration") else base


class Classifier:
    """Image encoder + projection + label index: ranked labels for images."""

    def __init__(self, index: LabelIndex, encoder: ImageEncoder, projection: Projection,
                 threads: int | None = None, search_device: str = "cpu") -> None:
        if projection.dim != index.dim:
            raise ZsclfError(f"projection {projection.name} gives {projection.dim}-d vectors, "
                             f"the index holds {index.dim}-d labels")
        self.index = index
        self.encoder = encoder
        self.projection = projection
        self.threads = threads or default_threads()
        self.search_device = search_device
        self._class_rows: np.ndarray | None = None
        self.seen_gate: float | None = None

    @classmethod
    def load(cls, index: str | Path | None = None, device: str = "auto", threads: int | None = None,
             top_t: int = DEFAULT_TOP_T, image_model: str | None = None, top_k: int = 5,
             projection: str | Path | None = None, seen_gate: float | None = None) -> Classifier:
        """Load the index (default: ImageNet-21K), the image encoder and the projection the index needs
        (ConSE by default, a DeViSE file with `projection`, the CNN's features for a visual-space index)."""
        index_dir = Path(index) if index else paths.default_index_dir()
        label_index = LabelIndex.load(index_dir)
        check_text_encoder(label_index.meta, index_dir)
        configure_faiss(threads=1)  # the encoder owns the cores; see index.configure_faiss
        encoder = ImageEncoder.load(image_model, SessionConfig(device, threads=1))  # parallel across batches
        projector = projection_for_index(label_index.meta, index_dir, encoder, top_t, projection)
        search_device = "cpu"
        if use_faiss_gpu(device, top_k) and label_index.to_gpu():
            search_device = "cuda"
        clf = cls(label_index, encoder, projector, threads, search_device)
        clf.seen_gate = seen_gate
        return clf

    @property
    def devices(self) -> dict[str, str]:
        """Where each stage runs."""
        return {"encoder": self.encoder.device, "search": self.search_device}

    def seen_rows(self) -> np.ndarray:
        """Index rows that are ImageNet-1K training classes (matched by WNID, else by name)."""
        rows = self.seen_class_rows()
        return np.unique(rows[rows >= 0])

    # -- core -----------------------------------------------------------------------------
    def embed(self, batch: np.ndarray) -> np.ndarray:
        """Preprocessed image batch -> normalised query vectors in the index's space."""
        features, logits = self.encoder.encode(batch)
        return self.projection.project(features, logits)

    def seen_class_rows(self) -> np.ndarray:
        """Index row of each of the CNN's 1,000 classes (-1 where the index lacks it)."""
        if self._class_rows is None:
            from .labels import imagenet1k

            seen = imagenet1k()
            by_id = {label_id or name: row for row, (label_id, name) in
                     enumerate(zip(self.index.ids, self.index.names, strict=True))}
            self._class_rows = np.array([by_id.get(wnid, by_id.get(name, -1))
                                         for wnid, name in zip(seen.ids, seen.names, strict=True)], dtype=np.int64)
        return self._class_rows

    def search(self, queries: np.ndarray, logits: np.ndarray | None, top_k: int = 5,
               exclude_seen: bool = False) -> tuple[SearchResult, np.ndarray]:
        """Top-k label rows and scores; with a seen gate, confident images get the CNN's own classes.

        Novelty detection (Socher et al. 2013): an image whose top softmax probability reaches
        `seen_gate` is taken to show a seen class, and its answers are the index's seen classes in
        the CNN's order, scored by their probabilities; other images keep the projection's answers.
        Returns the result and a mask of the gated images.
        """
        result = self.index.search(queries, top_k, self.seen_rows() if exclude_seen else None)
        if self.seen_gate is None or exclude_seen or logits is None:
            return result, np.zeros(len(queries), dtype=bool)
        return apply_seen_gate(result, softmax(logits), self.seen_class_rows(), self.seen_gate)

    def rank(self, queries: np.ndarray, top_k: int = 5, exclude_seen: bool = False,
             min_score: float | None = None, logits: np.ndarray | None = None) -> list[list[Prediction]]:
        """Top-k predictions for each query vector."""
        result, gated = self.search(queries, logits, top_k, exclude_seen)
        out = []
        for scores, rows, by_cnn in zip(result.scores, result.rows, gated, strict=True):
            floor = None if by_cnn else min_score  # probabilities are not on the --min-score scale
            preds = [Prediction(self.index.names[r], self.index.ids[r], round(float(s), 6))
                     for s, r in zip(scores, rows, strict=True)
                     if r >= 0 and (floor is None or s >= floor)]
            out.append(preds)
        return out

    def predict_images(self, images: list, top_k: int = 5, exclude_seen: bool = False) -> list[list[Prediction]]:
        """Predictions for PIL images already in memory."""
        batch = np.stack([preprocess(to_rgb(img), self.encoder.preprocess) for img in images])
        return self.rank(self.embed(batch), top_k, exclude_seen)

    # -- streaming ------------------------------------------------------------------------
    def _encode(self, batch: list[tuple[str, np.ndarray | str]]) -> BatchOutput:
        """Run the encoder and projection on the decoded images of one batch."""
        good = [arr for _, arr in batch if isinstance(arr, np.ndarray)]
        features = logits = queries = None
        if good:
            features, logits = self.encoder.encode(np.stack(good))
            queries = self.projection.project(features, logits)
        errors = [None if isinstance(arr, np.ndarray) else arr for _, arr in batch]
        return BatchOutput([p for p, _ in batch], errors, features, logits, queries)

    def stream(self, inputs: Iterable[str], batch_size: int = 32,
               workers: int | None = None) -> Iterator[BatchOutput]:
        """Decode, encode and project images batch by batch, in input order (the engine under predict/eval)."""
        if batch_size < 1:
            raise ZsclfError("--batch-size must be at least 1")
        in_flight = self.threads if self.encoder.device == "cpu" else 1
        with ThreadPoolExecutor(workers or self.threads, thread_name_prefix="zsclf-decode") as decode_pool, \
                ThreadPoolExecutor(in_flight, thread_name_prefix="zsclf-encode") as encode_pool:
            running: deque[Future] = deque()
            for batch in decode_batches(inputs, self.encoder.preprocess, batch_size, decode_pool, ahead=in_flight + 1):
                running.append(encode_pool.submit(self._encode, batch))
                if len(running) >= in_flight:
                    yield running.popleft().result()
            while running:
                yield running.popleft().result()

    def predict_paths(self, inputs: Iterable[str], top_k: int = 5, batch_size: int = 32,
                      exclude_seen: bool = False, min_score: float | None = None,
                      workers: int | None = None) -> Iterator[Result]:
        """Stream results for image paths, in input order; unreadable inputs give error results."""
        for out in self.stream(inputs, batch_size, workers):
            ranked = iter(self.rank(out.queries, top_k, exclude_seen, min_score, out.logits)
                          if out.queries is not None else [])
            for path, error in zip(out.paths, out.errors, strict=True):
                yield Result(path, error=error) if error is not None else Result(path, predictions=next(ranked))


@dataclass
class BatchOutput:
    """One processed batch: per-input errors (None = ok) and, for the ok inputs in order, CNN outputs and queries."""

    paths: list[str]
    errors: list[str | None]
    features: np.ndarray | None
    logits: np.ndarray | None
    queries: np.ndarray | None
