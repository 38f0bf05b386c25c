"""The warm models behind `zsclf serve`: one Classifier, one read-only Collection, one worker thread.

Every piece of model or database work runs on the one worker thread (SQLite connections and ONNX sessions
stay on the thread that made them; the event loop never blocks). Admission is bounded: at most
`1 + queue` requests hold or wait for the worker; one more is refused at once (`Busy`, HTTP 503), so memory
never grows with the number of callers. Thumbnails are made on demand and kept in a bounded LRU cache.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from ..errors import ImageError, ZsclfError

T = TypeVar("T")
MAX_K = 100  # photos or labels one request may ask for
THUMB_CACHE_BYTES = 32 << 20


class Busy(Exception):
    """The worker and its queue are full: the request is refused (HTTP 503), not queued without bound."""


class NotFound(ZsclfError):
    """A photo id the collection does not hold, or a photo whose file cannot be read now (HTTP 404)."""


@dataclass(frozen=True)
class EngineConfig:
    """What `zsclf serve` keeps warm: the classifier's settings, the collection (optional) and the bounds."""

    classifier: object  # pipeline.classifier.ClassifierConfig
    db: Path | None = None
    top_k: int = 5
    queue: int = 16  # requests that may wait for the worker (beyond the one it runs)


class Engine:
    """Runs model work on one thread behind a bounded gate (`call`), and holds the thumbnail cache."""

    def __init__(self, config: EngineConfig, classifier=None, collection=None) -> None:
        self.config = config
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="zsclf-serve")
        self.limit = 1 + max(0, config.queue)
        self.pending = 0  # touched on the event loop only
        self.thumbs: OrderedDict[int, bytes] = OrderedDict()
        self.thumb_bytes = 0
        self.classifier, self.collection = classifier, collection
        self.photos: int | None = len(collection) if collection is not None else None  # counted when loaded

    def start(self) -> None:
        """Load and warm the models on the worker thread (errors are the library's one-line ZsclfErrors)."""
        self.pool.submit(self._load).result()

    def _load(self) -> None:
        from ..pipeline.classifier import Classifier

        if self.classifier is None:
            self.classifier = Classifier.from_config(self.config.classifier)
            self._warm_encoder()
        if self.collection is None and self.config.db is not None:
            from ..collection.collection import Collection

            self.collection = Collection.open(self.config.db, readonly=True)
            self.photos = len(self.collection)
            if self.photos:
                self.collection.search("a photo", k=1)  # loads the vectors and the text encoder

    def _warm_encoder(self) -> None:
        import io

        from PIL import Image

        buf = io.BytesIO()
        Image.new("RGB", (64, 64), (128, 128, 128)).save(buf, "PNG")
        self.classifier.predict_bytes(buf.getvalue(), top_k=1)

    @contextmanager
    def admitted(self) -> Iterator[None]:
        """Hold one of the `1 + queue` places for the length of a request (reading its body included), or raise
        Busy at once when none is free. Used on the event loop only."""
        if self.pending >= self.limit:
            raise Busy(f"the server is busy ({self.pending} requests in progress or waiting): try again shortly")
        self.pending += 1
        try:
            yield
        finally:
            self.pending -= 1

    async def run(self, work: Callable[..., T], *args) -> T:
        """`work(*args)` on the worker thread, awaited without blocking the event loop."""
        return await asyncio.get_running_loop().run_in_executor(self.pool, work, *args)

    # ---- the work (on the worker thread) --------------------------------------------------------------

    def predict(self, data: bytes, top_k: int) -> dict:
        """One upload's `predict --format jsonl` object."""
        return self.classifier.predict_bytes(data, "upload", top_k=top_k).record()

    def search(self, text: str | None, like: int | None, plus: list[str], minus: list[str], k: int) -> dict:
        """The hits of a sentence and/or a photo of the collection (by id), with --plus/--minus words."""
        collection = self.need_collection()
        path = collection.path_of(like) if like is not None else None
        hits = collection.search(text, path, plus, minus, k)
        from ..collection.collection import describe_query

        return {"query": describe_query(text, like, plus, minus),
                "results": [{"id": h.id, "path": h.path, "score": round(h.score, 4)} for h in hits]}

    def thumbnail(self, photo_id: int) -> bytes:
        """The JPEG thumbnail of a photo of the collection (by id only: nothing in a request is a path)."""
        if photo_id in self.thumbs:
            self.thumbs.move_to_end(photo_id)
            return self.thumbs[photo_id]
        from ..pipeline.thumbnails import thumbnail_jpeg

        try:
            path = self.need_collection().path_of(photo_id)
        except ZsclfError as exc:
            raise NotFound(str(exc)) from None
        try:
            data = thumbnail_jpeg(path)
        except ImageError as exc:
            raise NotFound(f"photo {photo_id}: {exc.reason}") from None
        self.thumbs[photo_id] = data
        self.thumb_bytes += len(data)
        while self.thumb_bytes > THUMB_CACHE_BYTES:
            self.thumb_bytes -= len(self.thumbs.popitem(last=False)[1])
        return data

    def health(self) -> dict:
        """What is loaded: the index's labels, the collection's photos (as counted at start: no database work on
        the event loop)."""
        from ..version import __version__

        clf = self.classifier
        return {"status": "ok", "version": __version__, "labels": len(clf.index) if clf is not None else None,
                "photos": self.photos, "queue": self.limit - 1}

    def need_collection(self):
        if self.collection is None:
            raise ZsclfError("no photo collection: start `zsclf serve` with --db PHOTOS.db to search photos")
        return self.collection

    def close(self) -> None:
        if self.collection is not None:
            self.pool.submit(self.collection.close).result()
        self.pool.shutdown(wait=True, cancel_futures=True)
