"""The photo collection on disk: one SQLite file (standard library) holding every photo's record and vector.

Why SQLite alone (no FAISS file beside it): one file, one transaction per batch, so the records
and the vectors can never disagree after a crash; loading 10,000 float16 vectors from it takes
milliseconds and an exact cosine search over them well under one (docs/retrieval.md has the
measurements).

Tables: `meta` (key/value: the format name, the schema version and the typed `CollectionSetup`
that says how the vectors were made) and `photos`:

| column   | type    | what                                                               |
|----------|---------|--------------------------------------------------------------------|
| id       | INTEGER | row id                                                             |
| path     | BLOB    | absolute path as the OS's bytes (`os.fsencode`): any name round-trips |
| size     | INTEGER | bytes, from stat                                                   |
| mtime_ns | INTEGER | modification time, from stat                                      |
| sha256   | BLOB    | 32-byte digest of the content (recognises moves and duplicates)    |
| vector   | BLOB    | `dim` little-endian float16 (or float32) values; NULL: unreadable   |
| error    | TEXT    | why the photo could not be read (NULL when it was)                 |
| dev      | INTEGER | `st_dev` of the folder the photo was found in (NULL: not recorded) |

`dev` (for `collection.presence`) is added by ALTER TABLE, same schema version, when an older file is
first opened for writing: old files keep working, an older zsclf reads new ones. WAL journal,
`synchronous=NORMAL`: a killed process loses at most the transaction in flight. A file that is not
SQLite, an SQLite file of something else, a newer schema, or one that fails `quick_check` is refused
with one line (exit 2 in the CLI). A 0-byte file is an empty SQLite database (SQLite reads it so):
`photos` makes the collection in it, `search` finds none. A file or folder that cannot be written is
opened read-only (`mode=ro`; `immutable=1` where the WAL's `-shm` cannot be made and no `-wal` is there:
no writer can work in such a folder either): searched as it is, never updated.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core import typed_json
from ..core.fsio import regular_file_problem
from ..errors import ZsclfError
from ..models.registry import ModelRef
from .dbfile import connect_readonly, is_blank, make_parent, writable

FORMAT = "zsclf-photo-collection"
SCHEMA_VERSION = 1
DTYPES = ("float16", "float32")

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE photos (
    id INTEGER PRIMARY KEY,
    path BLOB NOT NULL UNIQUE,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    sha256 BLOB NOT NULL,
    vector BLOB,
    error TEXT,
    dev INTEGER
);
CREATE INDEX photos_by_content ON photos (sha256);
"""


@dataclass(frozen=True)
class CollectionSetup:
    """How a collection's vectors are made; every photo in it was embedded this way, and queries must be."""

    image_encoder: ModelRef
    text_encoder: ModelRef
    template: str  # the template of the seen-class label texts ConSE mixes
    projection: str = field(metadata={"choices": ("conse", "linear", "joint")})  # joint: a joint image tower
    top_t: int
    dim: int
    dtype: str = field(metadata={"choices": DTYPES})
    temperature: float = 1.0  # ConSE's softmax temperature
    projection_sha256: str = ""  # of the map file, for "linear"
    projection_file: str = ""
    hubness: dict | None = None  # query-time hubness correction the collection was prepared for
    created: str = ""
    zsclf_version: str = ""

    def describe(self) -> str:
        """One line for people: the space and projection the vectors live in."""
        how = {"conse": f"ConSE (top-{self.top_t}, temperature {self.temperature:g})",
               "joint": f"the image embedding of {self.image_encoder.name}"}.get(self.projection,
                                                                                 f"learned map {self.projection_file}")
        return f"{how} into the {self.text_encoder.name} space, {self.dim}-d {self.dtype}"


@dataclass(frozen=True)
class PhotoRow:
    """What the collection knows about one path."""

    id: int
    size: int
    mtime_ns: int
    sha256: bytes
    ok: bool
    dev: int | None = None


class PhotoStore:
    """An open collection file. Not thread-safe: one thread uses it (the updater's main thread)."""

    def __init__(self, conn: sqlite3.Connection, path: Path, setup: CollectionSetup) -> None:
        self.conn = conn
        self.path = path
        self.setup = setup
        self.dtype = np.dtype(setup.dtype).newbyteorder("<")
        self.readonly = False
        columns = {r[1] for r in conn.execute("PRAGMA table_info(photos)")}
        self._dev = "dev" if "dev" in columns else "NULL"  # a read-only file from before `dev`

    # ---- opening ---------------------------------------------------------------------------------

    @classmethod
    def open(cls, path: str | Path, setup: CollectionSetup | None = None, check: bool = True,
             readonly: bool = False) -> PhotoStore:
        """Open an existing collection; with `setup`, create one where there is no file yet (or a 0-byte one).

        `check`: run SQLite's quick_check (a full read of the file: `photos` does it, `search`
        relies on the format checks). `readonly`: never write (search; works in a read-only folder).
        Raises ZsclfError for anything that is not a sound collection.
        """
        path = Path(path)
        exists = os.path.lexists(path)
        if (not exists or is_blank(path)) and (setup is None or readonly):
            raise ZsclfError(f"no photo collection at {path}: make one with `zsclf photos FOLDER --db {path}`")
        if exists and (problem := regular_file_problem(path)):
            raise ZsclfError(f"{path}: cannot open the photo collection: {problem}")
        if not exists:
            make_parent(path)
        readonly = readonly or (exists and not writable(path))  # searched as it is; `add` refuses it
        try:
            conn = connect_readonly(path) if readonly else sqlite3.connect(
                path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise ZsclfError(f"{path}: cannot open the photo collection ({exc})") from None
        try:
            store = cls._prepare(conn, path, None if readonly else setup, exists, check, readonly)
        except BaseException:
            conn.close()
            raise
        store.readonly = readonly
        return store

    @classmethod
    def _prepare(cls, conn: sqlite3.Connection, path: Path, setup: CollectionSetup | None, exists: bool,
                 check: bool, readonly: bool) -> PhotoStore:
        try:
            conn.execute("PRAGMA busy_timeout = 10000")
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if exists and tables:
                return cls(conn, path, cls._check(conn, path, tables, check, writable=not readonly))
            if setup is None or (exists and not is_blank(path)):  # an empty SQLite file is not a collection
                raise ZsclfError(f"{path}: an SQLite database without tables, not a zsclf photo collection")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("BEGIN IMMEDIATE")
            for statement in filter(str.strip, _SCHEMA.split(";")):
                conn.execute(statement)
            conn.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", [
                ("format", FORMAT), ("schema_version", str(SCHEMA_VERSION)),
                ("setup", json.dumps(typed_json.dump(setup)))])
            conn.execute("COMMIT")
            conn.execute("PRAGMA synchronous = NORMAL")
            return cls(conn, path, setup)
        except sqlite3.DatabaseError as exc:
            raise ZsclfError(f"{path}: not a usable zsclf photo collection ({exc}); "
                             "move it away or pass another --db") from None

    @staticmethod
    def _check(conn: sqlite3.Connection, path: Path, tables: set[str], check: bool, writable: bool) -> CollectionSetup:
        if "meta" not in tables:
            raise ZsclfError(f"{path}: an SQLite database, but not a zsclf photo collection")
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        if meta.get("format") != FORMAT:
            raise ZsclfError(f"{path}: an SQLite database, but not a zsclf photo collection")
        version = meta.get("schema_version", "")
        if version != str(SCHEMA_VERSION):
            raise ZsclfError(f"{path}: photo collection schema {version!r}, this zsclf reads {SCHEMA_VERSION}: "
                             "upgrade zsclf or rebuild the collection")
        if "photos" not in tables:
            raise ZsclfError(f"{path}: damaged photo collection (no photos table); move it away and rebuild it")
        if check:
            problems = [r[0] for r in conn.execute("PRAGMA quick_check")]
            if problems != ["ok"]:
                raise ZsclfError(f"{path}: damaged photo collection (SQLite quick_check: {problems[0]}); "
                                 "move it away and rebuild it")
        try:
            raw = json.loads(meta.get("setup", ""))
        except ValueError:
            raise ZsclfError(f"{path}: damaged photo collection (unreadable setup record)") from None
        setup = typed_json.load(CollectionSetup, raw, f"{path} (setup)")
        if writable:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            if "dev" not in {r[1] for r in conn.execute("PRAGMA table_info(photos)")}:
                conn.execute("ALTER TABLE photos ADD COLUMN dev INTEGER")  # see the module doc
        return setup

    def close(self) -> None:
        self.conn.close()

    # ---- reading ---------------------------------------------------------------------------------

    def by_path(self, path: bytes) -> PhotoRow | None:
        row = self.conn.execute(f"SELECT id, size, mtime_ns, sha256, vector IS NOT NULL, {self._dev} FROM photos "
                                "WHERE path = ?", (path,)).fetchone()
        return PhotoRow(row[0], row[1], row[2], row[3], bool(row[4]), row[5]) if row else None

    def by_content(self, sha256: bytes) -> tuple[bytes | None, str | None] | None:
        """(vector bytes, error) of some photo with this content, preferring one that was read; None if none."""
        row = self.conn.execute("SELECT vector, error FROM photos WHERE sha256 = ? ORDER BY vector IS NULL LIMIT 1",
                                (sha256,)).fetchone()
        return (row[0], row[1]) if row else None

    def vector_of(self, path: bytes) -> np.ndarray | None:
        row = self.conn.execute("SELECT vector FROM photos WHERE path = ?", (path,)).fetchone()
        return self._usable(row[0] if row else None)

    def vector_by_content(self, sha256: bytes) -> np.ndarray | None:
        found = self.by_content(sha256)
        return self._usable(found[0] if found else None)

    def _usable(self, blob: bytes | None) -> np.ndarray | None:
        """The decoded vector, None where there is none or it is not finite (the photo is embedded again)."""
        vector = self.decode(blob) if blob is not None else None
        return vector if vector is not None and np.isfinite(vector).all() else None

    def decode(self, blob: bytes) -> np.ndarray:
        """[1, dim] float32 from a stored vector."""
        return np.frombuffer(blob, dtype=self.dtype).astype(np.float32).reshape(1, -1)

    def encode(self, vectors: np.ndarray) -> list[bytes]:
        """Stored bytes for each row of `vectors`."""
        return [row.tobytes() for row in np.ascontiguousarray(vectors, dtype=self.dtype)]

    def load_vectors(self) -> tuple[np.ndarray, np.ndarray, int]:
        """(ids [n], vectors [n, dim] in the stored dtype, how many were left out as not finite) of every photo
        that was read, filled chunk by chunk (memory: the matrix itself plus one chunk)."""
        n = self.conn.execute("SELECT count(vector) FROM photos").fetchone()[0]
        ids, matrix = np.empty(n, np.int64), np.empty((n, self.setup.dim), self.dtype)
        filled = dropped = 0
        for chunk_ids, chunk in self._vector_chunks():
            if filled + dropped + len(chunk) > n:
                break  # rows added since the count (another process): they come with the next search
            finite = np.isfinite(chunk).all(axis=1)
            good = int(finite.sum())
            ids[filled:filled + good], matrix[filled:filled + good] = chunk_ids[finite], chunk[finite]
            filled, dropped = filled + good, dropped + len(chunk) - good
        return ids[:filled], matrix[:filled], dropped

    def nonfinite_ids(self) -> list[int]:
        """Ids of the photos whose stored vector holds a NaN or an infinity (never written now, but an older
        zsclf or a damaged file may hold some); one pass over the vectors in chunks."""
        return [int(i) for ids, chunk in self._vector_chunks() for i in ids[~np.isfinite(chunk).all(axis=1)]]

    def _vector_chunks(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        dim = self.setup.dim
        cursor = self.conn.execute("SELECT id, vector FROM photos WHERE vector IS NOT NULL ORDER BY id")
        while chunk := cursor.fetchmany(8192):
            blob = b"".join(r[1] for r in chunk)
            if len(blob) != len(chunk) * dim * self.dtype.itemsize:
                raise ZsclfError(f"{self.path}: damaged photo collection (a vector of the wrong size)")
            yield np.array([r[0] for r in chunk], np.int64), np.frombuffer(blob, self.dtype).reshape(len(chunk), dim)

    def paths_of(self, ids: Sequence[int]) -> list[str]:
        """The path (as str, surrogate-escaped where not UTF-8) of each id, in order."""
        found = dict(self.conn.execute(f"SELECT id, path FROM photos WHERE id IN ({','.join('?' * len(ids))})",
                                       [int(i) for i in ids]).fetchall()) if len(ids) else {}
        return [os.fsdecode(found[int(i)]) for i in ids]

    def path_of(self, photo_id: int) -> bytes | None:
        """The stored path of one photo (None when there is no such id)."""
        row = self.conn.execute("SELECT path FROM photos WHERE id = ?", (int(photo_id),)).fetchone()
        return row[0] if row else None

    def counts(self) -> dict[str, int]:
        total, ok = self.conn.execute("SELECT count(*), count(vector) FROM photos").fetchone()
        return {"photos": ok, "unreadable": total - ok}

    def holds_under(self, folder: str) -> bool:
        """Does the collection have a photo under this folder (absolute)?"""
        prefix = os.fsencode(folder.rstrip(os.sep) + os.sep)
        return self.conn.execute("SELECT 1 FROM photos WHERE substr(path, 1, ?) = ? LIMIT 1",
                                 (len(prefix), prefix)).fetchone() is not None

    def max_id(self) -> int:
        return self.conn.execute("SELECT coalesce(max(id), 0) FROM photos").fetchone()[0]

    # ---- one update's bookkeeping (temporary tables: this connection only, never on disk for long) ----

    def begin_scan(self) -> None:
        """Fresh `seen` (ids of rows found on disk this run) and `todo` (files to read) tables."""
        self.conn.execute("DROP TABLE IF EXISTS temp.seen")
        self.conn.execute("DROP TABLE IF EXISTS temp.todo")
        self.conn.execute("CREATE TEMP TABLE seen (id INTEGER PRIMARY KEY)")
        self.conn.execute("CREATE TEMP TABLE todo (n INTEGER PRIMARY KEY, path BLOB, size INTEGER, "
                          "mtime_ns INTEGER, dev INTEGER, id INTEGER)")

    def mark_seen(self, ids: Iterable[int]) -> None:
        self.conn.executemany("INSERT OR IGNORE INTO temp.seen (id) VALUES (?)", [(int(i),) for i in ids])

    def add_todo(self, rows: Iterable[tuple[bytes, int, int, int, int | None]]) -> None:
        """Queue files to read: (path, size, mtime_ns, dev, id of the row at that path or None)."""
        self.conn.executemany("INSERT INTO temp.todo (path, size, mtime_ns, dev, id) VALUES (?, ?, ?, ?, ?)", rows)

    def todo_count(self) -> int:
        return self.conn.execute("SELECT count(*) FROM temp.todo").fetchone()[0]

    def iter_todo(self) -> Iterator[tuple[bytes, int, int, int, int | None]]:
        """The queued files (path, size, mtime_ns, dev, id) in walk order, read in chunks (memory stays bounded)."""
        last = 0
        while chunk := self.conn.execute("SELECT n, path, size, mtime_ns, dev, id FROM temp.todo WHERE n > ? "
                                         "ORDER BY n LIMIT 1000", (last,)).fetchall():
            last = chunk[-1][0]
            yield from (tuple(row[1:]) for row in chunk)

    def iter_unseen(self, up_to_id: int) -> Iterator[tuple[int, bytes, int | None]]:
        """(id, path, dev) of the rows with id <= `up_to_id` not marked seen, in id order and chunks."""
        last = 0
        while chunk := self.conn.execute("SELECT id, path, dev FROM photos WHERE id > ? AND id <= ? AND id NOT IN "
                                         "(SELECT id FROM temp.seen) ORDER BY id LIMIT 2000",
                                         (last, up_to_id)).fetchall():
            last = chunk[-1][0]
            yield from chunk

    # ---- writing ---------------------------------------------------------------------------------

    def write(self, rows: Iterable[tuple[bytes, int, int, int, bytes, bytes | None, str | None]]) -> None:
        """Insert or replace (by path) rows of (path, size, mtime_ns, dev, sha256, vector, error); the caller
        groups writes in `transaction()`."""
        self.conn.executemany(
            "INSERT INTO photos (path, size, mtime_ns, dev, sha256, vector, error) VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (path) DO UPDATE SET size = excluded.size, mtime_ns = excluded.mtime_ns, "
            "dev = excluded.dev, sha256 = excluded.sha256, vector = excluded.vector, error = excluded.error", rows)

    def touch(self, rows: Iterable[tuple[int, int, int, int]]) -> None:
        """Record a new (size, mtime_ns, dev) for rows whose content did not change: (id, size, mtime_ns, dev)."""
        self.conn.executemany("UPDATE photos SET size = ?, mtime_ns = ?, dev = ? WHERE id = ?",
                              [(size, mtime, dev, i) for i, size, mtime, dev in rows])

    def forget_vectors(self, ids: Sequence[int], reason: str) -> None:
        """Drop the vectors of these rows and mark them changed (size -1, no digest), so that the next scan of
        their folder reads them again instead of reusing the vector."""
        self.conn.executemany("UPDATE photos SET vector = NULL, error = ?, size = -1, sha256 = zeroblob(32) "
                              "WHERE id = ?", [(reason, int(i)) for i in ids])

    def delete(self, ids: Sequence[int]) -> None:
        self.conn.executemany("DELETE FROM photos WHERE id = ?", [(int(i),) for i in ids])

    def transaction(self) -> _Transaction:
        return _Transaction(self.conn)


class _Transaction:
    """`with store.transaction():` BEGIN IMMEDIATE … COMMIT (ROLLBACK on an exception)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind, value, traceback) -> None:
        self.conn.execute("COMMIT" if kind is None else "ROLLBACK")


def fs_bytes(path: str | os.PathLike) -> bytes:
    """The bytes stored for a path: absolute, its folder with symbolic links resolved (as roots are), the name
    as the OS spells it."""
    folder, name = os.path.split(os.path.abspath(path))
    return os.fsencode(os.path.join(os.path.realpath(folder), name))

