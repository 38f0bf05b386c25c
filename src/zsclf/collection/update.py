"""Bringing a collection up to date with its folders: add new photos, re-embed changed ones, forget deleted ones.

1. **scan**: walk the folders (`data.photo_walk`); a file whose path, size and mtime match its row
   is unchanged (marked seen), anything else is queued in a temporary table;
2. **read**: each queued file is hashed (sha256) just before it is decoded; content the collection
   already holds (a moved or copied photo, a touched file) takes the stored vector instead of the
   CNN; the rest goes through the pipeline's encode loop and is written one transaction per
   batch, so a killed run loses at most the batch in flight and never redoes committed photos;
3. **forget**: rows under the walked folders that were not seen are deleted when their own folder is
   there and the photo is not (`collection.presence`); under a folder that is missing, empty, not
   listable or on another device (an unplugged or swapped drive must not empty the collection) they
   are kept and reported, one line per folder, until `prune` asks to forget them.

Roots are resolved (symbolic links followed), so a photo reached through a link and through the
folder it leads to is one record, stored under the resolved path. A vector that is not finite is
never stored (the photo is reported as failed); one found in the file is dropped at the start of an
update, so its photo is read again when its folder is walked.

Unreadable photos are stored with their error (no vector) so that an unchanged broken file is not
retried on every run; they are counted as failed only in the run that first meets them.
"""

from __future__ import annotations

import hashlib
import os
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..core.fsio import open_regular, os_reason
from ..core.progress import Progress
from ..data.photo_walk import Skipped, walk_photos
from ..errors import ZsclfError
from .presence import Presence
from .store import PhotoStore

Report = Callable[[str, str], None]  # (kind: "failed" | "skipped" | "kept" | "note", one-line message)
NOT_FINITE = "the model gave a vector that is not finite (NaN or infinity)"


@dataclass
class UpdateSummary:
    """What one update did."""

    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    failed: int = 0
    reused: int = 0  # of added/updated: vector taken from identical content already held (moves, copies)
    embedded: int = 0  # photos that went through the CNN
    kept: int = 0  # not found, but under a folder that is missing, empty or on another device: kept
    repaired: int = 0  # stored vectors that were not finite, dropped to be read again
    skipped: dict[str, int] = field(default_factory=dict)  # special files, unreadable folders, broken links

    def line(self) -> str:
        """`added 3, updated 1, removed 0, unchanged 9996, failed 0` (+ what was reused or skipped)."""
        text = (f"added {self.added}, updated {self.updated}, removed {self.removed}, unchanged {self.unchanged}, "
                f"failed {self.failed}")
        extra = [f"{self.reused} reused from identical files (moved or copied)"] if self.reused else []
        extra += [f"{n} {kind} skipped" for kind, n in sorted(self.skipped.items())]
        extra += [f"{self.kept} kept: their folders are missing, empty or on another device"] if self.kept else []
        extra += [f"{self.repaired} stored vectors that were not finite dropped"] if self.repaired else []
        return text + (f" ({'; '.join(extra)})" if extra else "")


def file_digest(path: str) -> bytes:
    """sha256 of a regular file's bytes (never blocks on a FIFO)."""
    with open_regular(path) as fh:
        return hashlib.file_digest(fh, "sha256").digest()


def normalise_roots(folders: Sequence[str | os.PathLike], held: Callable[[str], bool] | None = None) -> list[str]:
    """Absolute folders with symbolic links resolved, each an existing directory, without any that lies
    inside another. With `held` (pruning), a folder that is gone is taken where `held(folder)` says the
    collection has photos under it."""
    roots = []
    for folder in folders:
        path = os.path.abspath(os.fsdecode(os.fspath(folder)))
        if not os.path.isdir(path) and not (held and not os.path.lexists(path) and held(os.path.realpath(path))):
            problem = "no such folder" if not os.path.lexists(path) else "not a folder"
            raise ZsclfError(f"{folder}: {problem} (a collection is made from folders of photos)")
        roots.append(os.path.realpath(path))
    roots = sorted(set(roots))
    return [r for r in roots if not any(r != o and r.startswith(o.rstrip(os.sep) + os.sep) for o in roots)]


@dataclass
class _Queued:
    path: bytes
    size: int
    mtime_ns: int
    dev: int
    row_id: int | None
    sha256: bytes = b""


class Updater:
    """One run of `add`: see the module doc. `embedder_factory` is called only when some photo needs the CNN."""

    def __init__(self, store: PhotoStore, embedder_factory: Callable[[], object], batch_size: int = 32,
                 progress: Progress | None = None, report: Report | None = None, prune: bool = False) -> None:
        self.store = store
        self.prune = prune
        self.embedder_factory = embedder_factory
        self.batch_size = batch_size
        self.progress = progress
        self.report = report or (lambda _kind, _message: None)
        self.summary = UpdateSummary()
        self.protected: list[bytes] = []  # folders that could not be listed: their rows are kept
        self.pending: list[tuple] = []  # rows decided without the CNN, written with the next batch
        self.touched: list[tuple[int, int, int, int]] = []
        self.waiting: dict[bytes, list[_Queued]] = {}  # content being embedded -> other files with it
        self.keep: list[int] = []  # rows met while reading: seen, never forgotten
        self.done = self.queued = 0

    def run(self, folders: Sequence[str | os.PathLike], exclude: Sequence[str] = ()) -> UpdateSummary:
        roots = normalise_roots(folders, self.store.holds_under if self.prune else None)
        linked = _given_forms(folders)
        for given in linked:
            self.report("note", f"{given}: its photos are recorded under {os.path.realpath(given)} "
                                "(symbolic links resolved)")
        store = self.store
        last_id = store.max_id()
        store.begin_scan()
        with store.transaction():
            bad = store.nonfinite_ids()
            store.forget_vectors(bad, "its stored vector was not finite (NaN or infinity); read again when seen")
        self.summary.repaired = len(bad)
        queued = self._scan(roots, exclude)
        self._read(queued)
        self._forget(roots + linked, last_id)
        return self.summary

    # ---- 1. scan ----------------------------------------------------------------------------------

    def _skipped(self, skip: Skipped) -> None:
        self.summary.skipped[skip.kind] = self.summary.skipped.get(skip.kind, 0) + 1
        if skip.kind == "unreadable":
            self.protected.append(os.fsencode(skip.path))
        self.report("skipped", f"{skip.path}: {skip.reason}")

    def _scan(self, roots: list[str], exclude: Sequence[str]) -> int:
        store, found, queued = self.store, 0, 0
        seen: list[int] = []
        todo: list[tuple] = []
        with store.transaction():
            for root in filter(os.path.lexists, roots):  # one that is gone is only pruned
                for photo in walk_photos(root, exclude, self._skipped):
                    found += 1
                    path = os.fsencode(photo.path)
                    row = store.by_path(path)
                    if row and row.size == photo.size and row.mtime_ns == photo.mtime_ns:
                        seen.append(row.id)
                        if row.dev != photo.dev:  # recorded before `dev`, or the drive came back as another
                            self.touched.append((row.id, row.size, row.mtime_ns, photo.dev))
                    else:
                        todo.append((path, photo.size, photo.mtime_ns, photo.dev, row.id if row else None))
                    if len(seen) + len(todo) >= 1000:
                        queued += self._flush_scan(seen, todo)
                        if self.progress:
                            self.progress("scanning folders", found, found, f"{queued:,} new or changed")
            queued += self._flush_scan(seen, todo)
        self.summary.unchanged = found - queued
        if self.progress and found:
            self.progress("scanning folders", found, found, f"{queued:,} new or changed")
        return queued

    def _flush_scan(self, seen: list[int], todo: list[tuple]) -> int:
        self.store.mark_seen(seen)
        self.store.add_todo(todo)
        self.store.touch(self.touched)
        self.touched.clear()
        queued = len(todo)
        seen.clear()
        todo.clear()
        return queued

    # ---- 2. read ----------------------------------------------------------------------------------

    def _read(self, queued: int) -> None:
        if not queued:
            return
        self.queued = queued
        order: deque[_Queued] = deque()
        to_embed = self._decide(order)
        first = next(to_embed, None)
        if first is not None:
            embedder = self.embedder_factory()
            for batch in embedder.stream(_chain(first, to_embed), self.batch_size):
                rows = []
                vectors = iter(self._finite(batch.queries) if batch.queries is not None else [])
                for path, error in zip(batch.paths, batch.errors, strict=True):
                    item = order.popleft()
                    assert os.fsencode(path) == item.path
                    vector = next(vectors) if error is None else None
                    reason = str(error) if error is not None else None
                    if error is None and vector is None:
                        reason = f"{path}: {NOT_FINITE}"
                    rows.append(self._row(item, vector, reason, embedded=True))
                    rows.extend(self._row(twin, vector, reason, embedded=False)
                                for twin in self.waiting.pop(item.sha256, []))
                self._commit(rows)
        self._commit([])

    def _finite(self, queries: np.ndarray) -> list[bytes | None]:
        """The stored bytes of each vector, None for one that is not finite in the stored dtype."""
        stored = np.asarray(queries, self.store.dtype)
        return [v if ok else None for v, ok in zip(self.store.encode(stored), np.isfinite(stored).all(axis=1),
                                                   strict=True)]

    def _decide(self, order: deque[_Queued]) -> Iterator[str]:
        """Hash each queued file; yield the paths that need the CNN (their items appended to `order`)."""
        for path, size, mtime_ns, dev, row_id in self.store.iter_todo():
            item = _Queued(path, size, mtime_ns, dev, row_id)
            name = os.fsdecode(path)
            try:
                item.sha256 = file_digest(name)
            except OSError as exc:
                self._unreadable(item, f"{name}: {os_reason(exc)}")
                continue
            if item.sha256 in self.waiting:  # the same content is in the encoder right now
                self.waiting[item.sha256].append(item)
                continue
            known = self.store.by_content(item.sha256)
            if known is not None:
                self.pending.append(self._row(item, *known, embedded=False))
                if len(self.pending) >= 1000:
                    self._commit([])
                continue
            self.waiting[item.sha256] = []
            order.append(item)
            yield name

    def _unreadable(self, item: _Queued, message: str) -> None:
        """A queued file that cannot be opened now: report it, keep what the collection had."""
        self.summary.failed += 1
        self.report("failed", message)
        if item.row_id is not None:
            self.keep.append(item.row_id)
        self.done += 1

    def _row(self, item: _Queued, vector: bytes | None, error: str | None, embedded: bool) -> tuple:
        """The row to write for a queued file (empty when only its size and time changed), counted."""
        s = self.summary
        if item.row_id is not None:
            self.keep.append(item.row_id)
            stored = self.store.by_path(item.path)
            if stored is not None and stored.sha256 == item.sha256:  # touched, not changed
                s.unchanged += 1
                self.touched.append((item.row_id, item.size, item.mtime_ns, item.dev))
                return ()
        if vector is None:  # remembered with its error, counted as failed only
            s.failed += 1
            self.report("failed", error or f"{os.fsdecode(item.path)}: unreadable")
        elif item.row_id is None:
            s.added += 1
        else:
            s.updated += 1
        s.embedded += embedded
        s.reused += not embedded and vector is not None
        return (item.path, item.size, item.mtime_ns, item.dev, item.sha256, vector, error)

    def _commit(self, rows: list[tuple]) -> None:
        """Write a batch's rows with the pending ones in one transaction."""
        settled = len(rows) + len(self.pending)
        with self.store.transaction():
            self.store.write(r for r in rows + self.pending if r)
            self.store.touch(self.touched)
            self.store.mark_seen(self.keep)
        self.pending.clear()
        self.touched.clear()
        self.keep.clear()
        self.done += settled
        if self.progress:
            self.progress("embedding photos", min(self.done, self.queued), self.queued)

    # ---- 3. forget --------------------------------------------------------------------------------

    def _forget(self, roots: list[str], last_id: int) -> None:
        """Delete the rows under the walked folders that were not found and whose folder is there (in chunks,
        one transaction); count and report, per folder, the rows kept because it is not (see `presence`)."""
        prefixes = [(os.fsencode(r.rstrip(os.sep) or os.sep), os.fsencode(r.rstrip(os.sep) + os.sep)) for r in roots]
        protected = [p.rstrip(b"/") for p in self.protected]  # a folder that could not be listed, or a file
        presence, kept_under = Presence(), {}

        def kept(path: bytes) -> bool:
            return any(path == p or path.startswith(p + b"/") for p in protected)

        gone: list[int] = []
        with self.store.transaction():
            for row_id, path, dev in self.store.iter_unseen(last_id):
                root = next((r for r, p in prefixes if path.startswith(p)), None)
                if root is None or kept(path):
                    continue
                away = None if self.prune else presence.unavailable(path, dev, root)
                if away is None:
                    gone.append(row_id)
                else:
                    kept_under[away] = kept_under.get(away, 0) + 1
                if len(gone) >= 1000:
                    self._delete(gone)
            self._delete(gone)
        for (folder, why), n in sorted(kept_under.items()):
            self.summary.kept += n
            self.report("kept", f"{n} photo{'s' * (n != 1)} under {os.fsdecode(folder)}: the folder {why}; "
                                "--prune forgets them")

    def _delete(self, ids: list[int]) -> None:
        self.store.delete(ids)
        self.summary.removed += len(ids)
        ids.clear()


def _given_forms(folders: Sequence[str | os.PathLike]) -> list[str]:
    """The folders as given (absolute, links not resolved) where that differs from the resolved form: the rows
    an older zsclf stored under a link are forgotten in favour of the resolved ones."""
    given = [os.path.abspath(os.fsdecode(os.fspath(f))) for f in folders]
    return [g for g in given if os.path.realpath(g) != g]


def _chain(first: str, rest: Iterator[str]) -> Iterator[str]:
    yield first
    yield from rest
