"""The classifier: image encoder + projection + label index, giving ranked labels for images.

`Classifier.load()` reads an index and picks what its vectors need (ConSE by default, a DeViSE
file with `projection`, the CNN's features for a visual-space index); `predict_paths` streams
results in input order through the one encode loop (`pipeline.encoding`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..core import paths
from ..core.device import SessionConfig, clamp_threads, use_faiss_gpu
from ..core.vectors import softmax
from ..errors import ImageError, ZsclfError, check_number
from ..index.label_index import LabelIndex, SearchResult, configure_faiss
from ..index.meta import IndexMeta
from ..index.store import load_index
from ..models.image_encoder import ImageEncoder
from . import compat
from .config import ClassifierConfig
from .encoding import EncodedBatch, encode_decoded, encode_stream
from .images import preprocess, preprocess_bytes, to_rgb
from .projection import DEFAULT_TOP_T, Calibrated, Projection, VisualProjection
from .queries import model_classes, queries_for, require_classes
from .seen import apply_seen_gate, seen_class_rows, seen_probability

if TYPE_CHECKING:
    from ..index.meta import SeenScore
    from .hedging import HedgedAnswer, Hedger
    from .taxonomy import Taxonomy

if TYPE_CHECKING:
    import pyarrow as pa


@dataclass(frozen=True)
class Prediction:
    """One ranked label for an image. `score`: cosine similarity in the index's space; a z-score in a
    calibrated index; the CNN's probability for images answered by the seen gate."""

    label: str
    id: str
    score: float


@dataclass(frozen=True)
class Result:
    """The outcome for one input: predictions, or a one-line error message."""

    path: str
    predictions: list[Prediction] | None = None
    error: str | None = None
    hedged: HedgedAnswer | None = None  # with --hedge: the most informative node that is probably right

    def record(self) -> dict:
        """The JSON object of this result (one `predict --format jsonl` line, one `POST /v1/predict` answer)."""
        if self.error is not None:
            return {"path": self.path, "error": self.error}
        out = {"path": self.path,
               "predictions": [{"label": p.label, "id": p.id, "score": round(p.score, 4)} for p in self.predictions]}
        if self.hedged is not None:
            h = self.hedged
            out["hedged"] = {"label": h.label, "id": h.id, "probability": round(h.probability, 4), "depth": h.depth}
        return out


def query_top_t(meta: IndexMeta, top_t: int | None = None) -> int:
    """ConSE's top-t for queries of this index: `top_t` if given, else the index's own, else 10."""
    return top_t if top_t is not None else meta.queries.top_t if meta.queries else DEFAULT_TOP_T


def projection_for_index(index: LabelIndex, where: str | Path, encoder: ImageEncoder, top_t: int | None = None,
                         projection_file: str | Path | None = None) -> Projection:
    """The query projection an index was built for, checked against the encoder and the index."""
    meta = index.meta
    compat.check_image_encoder(meta, encoder.ref, where)
    compat.check_takes_projection(meta, projection_file is not None, where)
    base: Projection
    if meta.space == "visual":
        base = VisualProjection(encoder.visual_statistics()[1], meta.visual_transform or "centre")
    elif projection_file is not None:
        from .projection_file import load_projection

        devise = load_projection(projection_file)
        compat.check_same_projection(meta, devise, where, projection_file)
        compat.check_projection(devise, encoder.ref, meta.query_space, projection_file)
        base = devise
    else:
        base = queries_for(encoder.spec, meta.query_space, query_top_t(meta, top_t),
                           meta.queries.temperature if meta.queries else 1.0, index=index, where=f"index {where}")
    return Calibrated(base) if meta.calibration else base


class Classifier:
    """Image encoder + projection + label index: ranked labels for images."""

    def __init__(self, index: LabelIndex, encoder: ImageEncoder, projection: Projection, threads: int | None = None,
                 search_device: str = "cpu", seen_gate: float | None = None,
                 seen: tuple[Sequence[str], Sequence[str]] | None = None, seen_penalty: float = 0.0,
                 seen_score: SeenScore | None = None, where: str | Path = "the index") -> None:
        """`seen`: (ids, names) of the CNN's classes in logit order (default: ImageNet-1K). `seen_score`: the
        fitted P(seen) the gate uses (None: the top softmax probability). `where`: the index, for messages."""
        if projection.dim != index.dim:
            raise ZsclfError(f"projection {projection.name} gives {projection.dim}-d vectors, "
                             f"the index holds {index.dim}-d labels")
        self.index = index
        self.encoder = encoder
        self.projection = projection
        self.threads = clamp_threads(threads)[0]  # one encoder batch per core at most
        self.search_device = search_device
        self.seen_gate = seen_gate
        self.seen_penalty = seen_penalty
        self.seen_score = seen_score
        self.where = str(where)
        self.hedge_target: tuple[float, str] | None = None  # (P, rule) of hedged answers in predict_paths
        self._seen = seen
        self._class_rows: np.ndarray | None = None
        self._hedger: Hedger | None = None
        self._taxonomy: Taxonomy | None = None
        self._seen_vectors = None

    @classmethod
    def load(cls, index: str | Path | None = None, **options) -> Classifier:
        """Load the index (default: ImageNet-21K), the image encoder and the projection the index needs;
        `options` are ClassifierConfig's fields."""
        return cls.from_config(ClassifierConfig(index=Path(index) if index else None, **options))

    @classmethod
    def from_config(cls, config: ClassifierConfig,
                    make_index: Callable[[], tuple[Path, LabelIndex]] | None = None) -> Classifier:
        """Assemble a classifier as `config` says (see `load`). `make_index`: makes and loads the index to use
        instead of `config.index` (e.g. `--labels`' cached index; returns its folder and the loaded index), called
        while the image model loads."""
        image = config.check_model()  # before any work (e.g. embedding --labels)
        joint_name = image.name if image.is_joint else None
        index_dir = config.index or paths.default_index_dir(joint_name)
        if make_index is None and config.index is None and not (index_dir.exists() or index_dir.is_symlink()):
            how = (f"`zsclf build-index {paths.labels_dir() / 'imagenet21k.tsv'} --model {joint_name} -o {index_dir}`"
                   if joint_name else f"`zsclf setup` (in a checkout: `make setup`), or `zsclf build-index LABELS -o "
                   f"{index_dir}`")
            raise ZsclfError(f"no default index at {index_dir}: make it with {how}")
        # the image model loads while the index does (one-image predict 0.41 -> 0.37 s wall, CPU time the
        # same: 21 interleaved runs); its runs are single-threaded, several batches at once (pipeline.encoding)
        with ThreadPoolExecutor(1, thread_name_prefix="zsclf-load") as pool:
            loading = pool.submit(ImageEncoder.load, config.image_model, SessionConfig(config.device, threads=1))
            if make_index is not None:
                index_dir, label_index = make_index()
            else:
                label_index = load_index(index_dir)  # an index error is the one reported when both fail
            compat.check_text_encoder(label_index.meta, index_dir)
            encoder = loading.result()
        configure_faiss(threads=1)  # the encoder owns the cores; see index.label_index.configure_faiss
        projector = projection_for_index(label_index, index_dir, encoder, config.top_t, config.projection)
        search_device = "cuda" if use_faiss_gpu(config.device, config.max_k) and label_index.to_gpu() else "cpu"
        clf = cls(label_index, encoder, projector, config.threads, search_device, config.seen_gate, where=index_dir)
        meta = label_index.meta
        if config.seen_gate is not None or meta.hedging is not None:
            from .hedging import describe_projection, fit_problem, seen_score_for

            clf.seen_score = seen_score_for(meta, encoder.ref) if config.seen_gate is not None else None
            if meta.hedging is not None and not fit_problem(meta.hedging, meta, encoder.ref,
                                                            describe_projection(projector)):
                clf.seen_penalty = meta.hedging.seen_penalty
        if config.seen_penalty is not None:
            clf.seen_penalty = config.seen_penalty
        if config.hedge is not None:
            clf.enable_hedging(config.hedge, config.hedge_rule)
        return clf

    @property
    def devices(self) -> dict[str, str]:
        """Where each stage runs."""
        return {"encoder": self.encoder.device, "search": self.search_device}

    def seen_class_rows(self) -> np.ndarray:
        """Index row of each of the CNN's classes (-1 where the index lacks it)."""
        if self._class_rows is None:
            if self._seen is None:  # the image model's classes (none for a joint image tower)
                seen = model_classes(self.encoder.spec) if not self.encoder.spec.is_joint else None
                self._seen = (seen.ids, seen.names) if seen is not None else ([], [])
            self._class_rows = seen_class_rows(self.index.ids, self.index.names, *self._seen)
        return self._class_rows

    def seen_rows(self) -> np.ndarray:
        """Index rows that are the CNN's training classes."""
        rows = self.seen_class_rows()
        return np.unique(rows[rows >= 0])

    def seen_key(self) -> str:
        """Identifies the CNN's class list (for caches) without reading it."""
        if self._seen is None and (self.encoder.spec.entry.classes or "imagenet1k") == "imagenet1k":
            from .taxonomy import file_fingerprint

            return "imagenet1k-" + file_fingerprint(paths.labels_dir() / "imagenet1k.tsv")
        import hashlib

        self.seen_class_rows()
        assert self._seen is not None
        return hashlib.sha256("\0".join([*self._seen[0], "", *self._seen[1]]).encode()).hexdigest()[:16]

    def seen_ids(self) -> list[str]:
        """The ids (WNIDs) of the CNN's classes in logit order."""
        self.seen_class_rows()
        assert self._seen is not None
        return list(self._seen[0])

    def taxonomy(self) -> Taxonomy:
        """The index's hierarchy with node names, for hedging (cached on disk, see pipeline.taxonomy)."""
        if self._taxonomy is None:
            from .taxonomy import taxonomy_for

            def classes() -> tuple[np.ndarray, list[str], list[str]]:
                rows = self.seen_class_rows()
                assert self._seen is not None
                return rows, list(self._seen[0]), list(self._seen[1])

            self._taxonomy = taxonomy_for(self.index, classes, self.seen_key(), self.encoder.num_classes)
        return self._taxonomy

    def hedger(self) -> Hedger:
        """The hedging model and taxonomy of this index (loaded once; ZsclfError when the index has no fit)."""
        if self._hedger is None:
            from .hedging import Hedger, choose_fit, describe_projection

            model = choose_fit(self.index.meta, self.where, self.encoder.ref, describe_projection(self.projection))
            self._hedger = Hedger(model, self.taxonomy())
        return self._hedger

    def enable_hedging(self, p: float, rule: str = "darts") -> None:
        """Give every result of `predict_paths` a hedged answer for accuracy target p (checked now)."""
        self.hedger().check_target(p, rule)
        self.hedge_target = (p, rule)

    def search(self, queries: np.ndarray, logits: np.ndarray | None, top_k: int = 5,
               exclude_seen: bool = False) -> tuple[SearchResult, np.ndarray]:
        """Top-k label rows and scores; with a seen gate, confident images get the CNN's own classes.

        Novelty detection (Socher et al. 2013): an image that probably shows a seen class (its fitted
        P(seen) from the energy of its logits reaches `seen_gate`; without a fit for this image model, its
        top softmax probability) gets the index's seen classes in the CNN's order, scored by their
        probabilities; other images keep the projection's answers. With a seen penalty (calibrated
        stacking) the seen labels' scores are lowered by it before ranking.
        Returns the result and a mask of the gated images.
        """
        result, _, gated = self._search(queries, logits, top_k, exclude_seen, 0)
        return result, gated

    def _search(self, queries: np.ndarray, logits: np.ndarray | None, top_k: int, exclude_seen: bool,
                wide: int) -> tuple[SearchResult, SearchResult | None, np.ndarray]:
        """(the ranked result, the plain top-`wide` search for hedging or None, the gated mask)."""
        if exclude_seen and self.encoder.num_classes == 0:
            require_classes(self.encoder.spec, "--exclude-seen")
        plain = not exclude_seen and self.seen_penalty == 0
        wide_result = self.index.search(queries, max(wide, top_k) if plain else wide) if wide else None
        if wide_result is not None and plain:  # one search serves both (FAISS returns the best first)
            result = SearchResult(wide_result.scores[:, :top_k], wide_result.rows[:, :top_k])
        elif exclude_seen:
            result = self.index.search(queries, top_k, self.seen_rows())
        elif self.seen_penalty:
            from .stacking import SeenVectors, stacked_search

            if self._seen_vectors is None:
                self._seen_vectors = SeenVectors(self.index, self.seen_rows())
            result = stacked_search(self.index, self._seen_vectors, queries, top_k, self.seen_penalty)
        else:
            result = self.index.search(queries, top_k)
        if self.seen_gate is None or exclude_seen or logits is None:
            return result, wide_result, np.zeros(len(queries), dtype=bool)
        p_seen = seen_probability(self.seen_score, logits) if self.seen_score is not None else None
        result, gated = apply_seen_gate(result, softmax(logits), self.seen_class_rows(), self.seen_gate, p_seen)
        return result, wide_result, gated

    def rank(self, queries: np.ndarray, top_k: int = 5, exclude_seen: bool = False,
             min_score: float | None = None, logits: np.ndarray | None = None) -> list[list[Prediction]]:
        """Top-k predictions for each query vector (scores below `min_score` dropped, except gated answers,
        whose probabilities are not on that scale)."""
        return self._rank(queries, top_k, exclude_seen, min_score, logits, None)[0]

    def _rank(self, queries: np.ndarray, top_k: int, exclude_seen: bool, min_score: float | None,
              logits: np.ndarray | None, hedge: tuple[float, str] | None
              ) -> tuple[list[list[Prediction]], list[HedgedAnswer] | None]:
        """`rank`, plus hedged answers for (P, rule) when `hedge` is given."""
        check_number("--min-score", min_score)
        hedger = self.hedger() if hedge is not None and logits is not None else None
        result, wide, gated = self._search(queries, logits, top_k, exclude_seen, hedger.top_k if hedger else 0)
        out = []
        for scores, rows, by_cnn in zip(result.scores, result.rows, gated, strict=True):
            floor = None if by_cnn else min_score
            out.append([Prediction(self.index.names[r], self.index.ids[r], round(float(s), 6))
                        for s, r in zip(scores, rows, strict=True) if r >= 0 and (floor is None or s >= floor)])
        if hedger is None or hedge is None or wide is None or logits is None:
            return out, None
        return out, hedger.hedge(logits, wide.scores, wide.rows, *hedge)

    def predict_images(self, images: list, top_k: int = 5, exclude_seen: bool = False,
                       min_score: float | None = None) -> list[list[Prediction]]:
        """Predictions for PIL images already in memory (same rules as `predict_paths`)."""
        batch = np.stack([preprocess(to_rgb(img), self.encoder.preprocess) for img in images])
        features, logits = self.encoder.encode(batch)
        return self.rank(self.projection.project(features, logits), top_k, exclude_seen, min_score, logits)

    def predict_bytes(self, data: bytes, name: str = "upload", top_k: int = 5, exclude_seen: bool = False,
                      min_score: float | None = None) -> Result:
        """The Result for one image held in memory (an upload), as `predict_paths` gives it for a file named
        `name`: decoded with the same guards (pixel limit, decompression bombs), an error result if it cannot be."""
        try:
            pixels: np.ndarray | ImageError = preprocess_bytes(data, name, self.encoder.preprocess)
        except ImageError as exc:
            pixels = exc
        out = encode_decoded(self.encoder, [(name, pixels)], self.projection.project)
        return self.results(out, top_k, exclude_seen, min_score)[0]

    def stream(self, inputs: Iterable[str], batch_size: int = 32) -> Iterator[EncodedBatch]:
        """Decode, encode and project images batch by batch, in input order (the engine under predict/eval)."""
        return encode_stream(self.encoder, inputs, batch_size, self.threads, self.projection.project)

    def predict_paths(self, inputs: Iterable[str], top_k: int = 5, batch_size: int = 32,
                      exclude_seen: bool = False, min_score: float | None = None) -> Iterator[Result]:
        """Stream results for image paths, in input order; unreadable inputs give error results (with
        `enable_hedging`, each result also carries a hedged answer)."""
        for out in self.stream(inputs, batch_size):
            yield from self.results(out, top_k, exclude_seen, min_score)

    def results(self, out: EncodedBatch, top_k: int = 5, exclude_seen: bool = False,
                min_score: float | None = None) -> list[Result]:
        """The results of one encoded batch, in its order (with hedged answers when hedging is on)."""
        preds, hedged = (self._rank(out.queries, top_k, exclude_seen, min_score, out.logits, self.hedge_target)
                         if out.queries is not None else ([], None))
        ranked, answers = iter(preds), iter(hedged or [])
        return [Result(path, error=str(error)) if error is not None
                else Result(path, next(ranked), hedged=next(answers, None))
                for path, error in zip(out.paths, out.errors, strict=True)]

    def score_paths(self, paths: Iterable[str], top_k: int = 5, batch_size: int = 32, exclude_seen: bool = False,
                    min_score: float | None = None) -> pa.Table:
        """`predict_paths` as an Arrow table (path, labels, ids, scores, error; see pipeline.result_table):
        the unit of work of `zsclf batch`, on every engine. Needs pyarrow."""
        from .result_table import results_table

        return results_table(self.predict_paths(paths, top_k, batch_size, exclude_seen, min_score))

    def score_pixels(self, paths: Sequence[str], pixels: np.ndarray, errors: Sequence[str | None], top_k: int = 5,
                     batch_size: int = 32, exclude_seen: bool = False, min_score: float | None = None) -> pa.Table:
        """`score_paths` for images decoded elsewhere (batched the same way): `pixels` holds the preprocessed
        images of the inputs whose error (the reason they could not be decoded) is None, in order."""
        from .result_table import results_table

        rows = iter(pixels)
        decoded = [(p, ImageError(p, e) if e is not None else next(rows)) for p, e in zip(paths, errors, strict=True)]
        results: list[Result] = []
        for start in range(0, len(decoded), batch_size):
            out = encode_decoded(self.encoder, decoded[start:start + batch_size], self.projection.project)
            results += self.results(out, top_k, exclude_seen, min_score)
        return results_table(results)

