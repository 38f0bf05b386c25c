"""The library face of a photo collection::

    from zsclf import Collection
    photos = Collection.open("~/photos.db")          # created by the first add()
    photos.add(["~/Pictures"], exclude=["*/thumbnails"])
    for hit in photos.search(text="a dog on a beach", k=5):
        print(hit.path, hit.score)
    photos.search(like="IMG_1234.jpg", plus=["snow"], minus=["beach"])   # Kiros' arithmetic

Queries are sentences (embedded with the collection's text encoder) and photos (their stored
vector, or embedded on the spot); `plus` and `minus` add and subtract sentence vectors.
Scores are cosine similarities in the sentence space (after the hubness correction, when
the collection has one).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core import paths
from ..core.progress import Progress
from ..core.vectors import normalize
from ..errors import ZsclfError, check_number
from .dbfile import is_blank
from .store import CollectionSetup, PhotoStore, fs_bytes
from .update import Report, Updater, UpdateSummary, file_digest

_OPTION = {"image_model": "model"}  # CLI names of setup options
FLOAT32_ROWS = 200_000  # up to this many photos the scores come from a float32 copy; beyond, in chunks


@dataclass(frozen=True)
class Hit:
    """One photo ranked for a query."""

    path: str
    score: float
    id: int | None = None  # the photo's id in the collection


class Collection:
    """A photo collection file: `add` folders, `search` by text, example photo and arithmetic."""

    def __init__(self, path: Path, store: PhotoStore | None, device: str = "auto", threads: int | None = None,
                 setup_options: dict | None = None) -> None:
        self.path = path
        self._store = store
        self.device = device
        self.threads = threads
        self.setup_options = {k: v for k, v in (setup_options or {}).items() if v is not None}
        self._photos = None
        self._text = None
        self._matrix: tuple[np.ndarray, np.ndarray] | None = None
        self.unusable = 0  # photos left out of searches: their stored vector is not finite

    @classmethod
    def open(cls, path: str | os.PathLike | None = None, device: str = "auto", threads: int | None = None,
             check: bool = False, readonly: bool = False, **setup_options) -> Collection:
        """Open the collection at `path` (default: `paths.collection_path()`); a missing (or 0-byte) one is
        created by the first `add`. `setup_options` (image_model, projection, top_t, dtype) choose how a new
        collection embeds photos; an existing one keeps its own. `check`: SQLite quick_check first.
        `readonly`: for searching only; works where the file or its folder cannot be written."""
        path = Path(os.path.expanduser(path)) if path is not None else paths.collection_path()
        there = os.path.lexists(path) and not is_blank(path)
        store = PhotoStore.open(path, check=check, readonly=readonly) if there else None
        return cls(path, store, device, threads, setup_options)

    @property
    def store(self) -> PhotoStore:
        if self._store is None:
            raise ZsclfError(f"no photo collection at {self.path}: "
                             f"make one with `zsclf photos FOLDER --db {self.path}`")
        return self._store

    @property
    def setup(self) -> CollectionSetup:
        return self.store.setup

    def close(self) -> None:
        if self._store is not None:
            self._store.close()

    def __enter__(self) -> Collection:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __len__(self) -> int:
        return self.store.counts()["photos"] if self._store is not None else 0

    # ---- adding -----------------------------------------------------------------------------------

    def add(self, folders: Sequence[str | os.PathLike], exclude: Sequence[str] = (), batch_size: int = 32,
            progress: Progress | None = None, report: Report | None = None, prune: bool = False) -> UpdateSummary:
        """Bring the collection up to date with `folders` (see `collection.update`); returns the summary.
        `prune`: also forget the photos under folders that are missing or empty now (unplugged drives)."""
        from .update import normalise_roots

        held = self._store.holds_under if prune and self._store is not None else None
        normalise_roots(folders, held)  # a missing folder is an error before anything is created
        if self._store is not None and self._store.readonly:
            raise ZsclfError(f"{self.path}: the photo collection is read-only here (its file or folder cannot be "
                             "written): `zsclf search` reads it, `zsclf photos` cannot update it")
        if self._store is not None:
            self._check_same_setup()
        else:
            from .embedder import make_setup

            self._store = PhotoStore.open(self.path, setup=make_setup(**self.setup_options))
        with _update_lock(self.path), _sqlite_errors(self.path):
            summary = Updater(self._store, self._photo_embedder, batch_size, progress, report,
                              prune).run(folders, exclude)
        self._matrix = None
        return summary

    def _check_same_setup(self) -> None:
        """Options that choose how photos are embedded must match an existing collection's (or be left out)."""
        setup, asked = self.setup, self.setup_options
        have = {"image_model": setup.image_encoder.name, "top_t": setup.top_t, "temperature": setup.temperature,
                "dtype": setup.dtype}
        for key, value in asked.items():
            if key == "projection":
                differs = setup.projection != "linear" or os.path.realpath(value) != setup.projection_file
            else:
                differs = key in have and have[key] != value
            if differs:
                option = _OPTION.get(key, key).replace("_", "-")
                raise ZsclfError(f"{self.path} was made with {setup.describe()}; its photos are embedded that way, "
                                 f"so --{option} cannot change now: leave it out, or use another --db")

    def _photo_embedder(self):
        if self._photos is None:
            from .embedder import PhotoEmbedder

            self._photos = PhotoEmbedder(self.setup, self.device, self.threads)
        return self._photos

    # ---- searching --------------------------------------------------------------------------------

    def embed_text(self, texts: Sequence[str]) -> np.ndarray:
        """Normalised sentence vectors in the collection's space."""
        if self._text is None:
            from .sentences import SentenceEmbedder

            self._text = SentenceEmbedder(self.setup)
        return self._text.embed(list(texts))

    def photo_vector(self, photo: str | os.PathLike) -> np.ndarray:
        """[1, dim]: the stored vector of a photo in the collection (by path, else by content), else embedded now."""
        vector = self.store.vector_of(fs_bytes(photo))
        if vector is None:
            try:
                vector = self.store.vector_by_content(file_digest(os.fspath(photo)))
            except OSError:
                vector = None  # the embedder says why, in its own words
        if vector is None:
            vectors, errors = self._photo_embedder().embed([os.fspath(photo)])
            if errors[0] is not None:
                raise ZsclfError(f"--like {errors[0]}")
            vector = vectors[:1]
        return normalize(vector)

    def query_vector(self, text: str | None = None, like: str | os.PathLike | None = None,
                     plus: Sequence[str] = (), minus: Sequence[str] = (), weight: float | None = None) -> np.ndarray:
        """[dim]: normalise(base + w Σ plus - w Σ minus), every part a unit vector (`core.arithmetic`); the base
        is the text, the photo, or both (their normalised sum). `weight` defaults to 1 for a sentence
        query and 1.5 for a photo query (measured: a word moves a photo's vector less)."""
        from ..core.arithmetic import MAX_WEIGHT, PHOTO_WEIGHT, TEXT_WEIGHT, compose, unit

        check_number("--weight", weight, above=0, at_most=MAX_WEIGHT)
        texts = ([text] if text else []) + list(plus) + list(minus)
        if not texts and like is None:
            raise ZsclfError("a search needs a query: text, --like PHOTO or --plus TEXT")
        check_queries(texts)
        vectors = list(self.embed_text(texts)) if texts else []
        parts = ([vectors.pop(0)] if text else []) + ([self.photo_vector(like)[0]] if like is not None else [])
        base = unit(sum(unit(p) for p in parts)) if parts else None
        w = weight if weight is not None else (PHOTO_WEIGHT if like is not None else TEXT_WEIGHT)
        query = compose(base, vectors[:len(plus)], vectors[len(plus):], w)
        if not np.linalg.norm(query) > 1e-6:
            raise ZsclfError("the query's parts cancel out (e.g. --plus and --minus of the same text)")
        return unit(query)

    def search(self, text: str | None = None, like: str | os.PathLike | None = None, plus: Sequence[str] = (),
               minus: Sequence[str] = (), k: int = 10, weight: float | None = None) -> list[Hit]:
        """The `k` photos closest to the query (see `query_vector`); with `like`, that photo itself is left out."""
        if k < 1:
            raise ZsclfError(f"-k must be at least 1, not {k}")
        with _sqlite_errors(self.path):
            query = self.query_vector(text, like, plus, minus, weight)
            skip = self.store.by_path(fs_bytes(like)) if like is not None else None
            return self.rank(query, k, exclude_id=skip.id if skip else None)

    def vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """(ids, vectors) of every readable photo, loaded once (float32 up to FLOAT32_ROWS photos); photos whose
        stored vector is not finite are left out and counted in `unusable`."""
        if self._matrix is None:
            ids, matrix, self.unusable = self.store.load_vectors()
            self._matrix = (ids, matrix.astype(np.float32) if len(ids) <= FLOAT32_ROWS else matrix)
        return self._matrix

    def scores(self, query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(ids, cosine score of every photo) for a unit query vector."""
        ids, matrix = self.vectors()
        # einsum, not BLAS: a multi-threaded BLAS matvec spins its threads (10,000 photos: 0.33 ms wall but
        # 2.7 ms CPU idle, 14 ms under load, measured); einsum is one steady thread at 0.6 ms
        if matrix.dtype == np.float32:
            return ids, np.einsum("nd,d->n", matrix, query)
        step = 65536
        return ids, np.concatenate([np.einsum("nd,d->n", matrix[i:i + step].astype(np.float32), query)
                                    for i in range(0, len(matrix), step)] or [np.zeros(0, np.float32)])

    def rank(self, query: np.ndarray, k: int, exclude_id: int | None = None) -> list[Hit]:
        """Top-k hits for a query vector."""
        ids, scores = self.scores(query)
        if exclude_id is not None:
            scores = np.where(ids == exclude_id, -np.inf, scores)
        k = min(k, int(np.isfinite(scores).sum()))
        if k <= 0:
            return []
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        found = self.store.paths_of(ids[top])
        return [Hit(p, round(float(scores[i]), 6), int(ids[i])) for p, i in zip(found, top, strict=True)]

    def path_of(self, photo_id: int) -> str:
        """The path of the photo with this id (ZsclfError when the collection holds none): the one way from an id
        that came from outside (`zsclf serve`) to a file, which is only ever a photo of the collection."""
        with _sqlite_errors(self.path):
            found = self.store.path_of(photo_id)
        if found is None:
            raise ZsclfError(f"photo {photo_id}: no such photo in {self.path}")
        return os.fsdecode(found)


def describe_query(text: str | None, like: object, plus: Sequence[str] | None = (),
                   minus: Sequence[str] | None = ()) -> str:
    """A query as one line: `text like PHOTO + plus - minus`."""
    parts = [text] if text else []
    parts += [f"like {like}"] if like is not None else []
    parts += [f"+ {p}" for p in plus or []] + [f"- {m}" for m in minus or []]
    return " ".join(parts)


def check_queries(texts: Sequence[str]) -> None:
    """Every query text is non-empty UTF-8 (a line of stdin that is not comes as surrogate escapes)."""
    for text in texts:
        if not text.strip():
            raise ZsclfError("a query text is empty")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise ZsclfError(f"query {ascii(text)} is not UTF-8 text: give queries in UTF-8") from None


@contextmanager
def _sqlite_errors(db: Path) -> Iterator[None]:
    """SQLite failures after opening (a disk that fills, a file damaged since, a lock held too long) as one
    ZsclfError line; what was committed stays committed."""
    try:
        yield
    except sqlite3.Error as exc:
        raise ZsclfError(f"{db}: the photo collection could not be read or written ({exc}); "
                         "what was committed before is kept") from None


class _update_lock:
    """An exclusive advisory lock beside the collection (`<db>.lock`) for the length of an update, so two
    `zsclf photos` runs on one collection never interleave; a second one is refused at once."""

    def __init__(self, db: Path) -> None:
        self.path = db.with_name(db.name + ".lock")
        self.fd: int | None = None

    def __enter__(self) -> None:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX
            return
        try:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise ZsclfError(f"{self.path}: cannot create the update lock ({exc.strerror}); "
                             "the collection's folder must be writable") from None
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self.fd)
            self.fd = None
            raise ZsclfError(f"{self.path.with_suffix('')}: another `zsclf photos` is updating this collection; "
                             "try again when it has finished") from None

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            os.close(self.fd)
