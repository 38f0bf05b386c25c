"""Where `zsclf batch` writes: a Parquet dataset folder, local or at a URI, one whole part at a time.

    OUT/part-000000-<uuid>.parquet   results (schema: pipeline.result_table), each written whole or not at all
    OUT/_zsclf_batch.json            what made them (index, image model, options); a resume must match it

A local part is written to a hidden temp file in OUT, fsynced and renamed (`core.fsio.atomic_file`);
on an object store (S3, GCS) one upload is already all or nothing. Resuming reads the `path` column
of the parts there and skips those inputs. A crash leaves at most a hidden temp file, which the next
run that writes removes. Readers of OUT as a dataset (pyarrow, Spark, DuckDB, pandas) skip `.` and `_` files.

Whose folder it is is decided before anything in it is touched: OUT is ours when it is empty or holds
`_zsclf_batch.json`; anything else (even a file with a temp part's name) makes it foreign, and it is left
as it is. Nothing is written until the first part is: a run refused for its inputs, its settings or the
output leaves no run file behind, and a local OUT it made is removed again while still empty.

One run at a time writes to a local OUT: it holds `core.locking`'s lock on the folder from before it
reads what is there until it ends; a second run waits ZSCLF_LOCK_WAIT seconds (default 60) and then
resumes after the first, or fails saying OUT is busy. An object store has no such lock: two runs at
once on one URI each write whole parts, but may both score the same inputs (rows twice; a later
resume skips them all).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path

from ..core import typed_json, uri
from ..core.fsio import atomic_file, fsync_dir, os_reason
from ..core.locking import lock_wait, locked_output
from ..core.targets import check_output_folder
from ..errors import ZsclfError
from ..pipeline.result_table import COLUMNS, result_schema

RUN_FILE = "_zsclf_batch.json"
_PART = re.compile(r"^part-(\d+)-[0-9a-f]+\.parquet$")
_TEMP = re.compile(r"^\.(part-\d+-[0-9a-f]+\.parquet|_zsclf_batch\.json)\..*\.tmp$")  # core.fsio.atomic_file's


@dataclass(frozen=True)
class RunSettings:
    """What decides the results: a resumed run must use the same (the zsclf version is informative)."""

    index: str
    labels: int
    image_model: str
    image_model_sha256: str
    top_k: int
    top_t: int
    exclude_seen: bool
    projection: str | None = None
    min_score: float | None = None
    seen_gate: float | None = None
    index_files: str | None = None  # the index version's file checks (meta.files): which labels ranked the rows
    zsclf: str = ""

    def differences(self, other: RunSettings) -> list[str]:
        """`name: theirs -> ours` for every field that decides results and differs."""
        return [f"{f.name} {getattr(other, f.name)!r} (now {getattr(self, f.name)!r})" for f in fields(self)
                if f.name != "zsclf" and getattr(self, f.name) != getattr(other, f.name)]


@contextmanager
def open_sink(output: str, settings: RunSettings, part_rows: int) -> Iterator[PartSink]:
    """The output `output` opened for one run (a local folder locked, and made when missing) while the
    `with` body runs; see the module doc. A local folder it made is removed if the body fails before writing."""
    if uri.is_uri(output):
        yield PartSink(output, settings, part_rows)
        return
    path = Path(output)
    real, _ = check_output_folder(path, "batch output")
    wait = lock_wait()
    busy = f"{output}: another zsclf batch is writing to it (waited {wait:g} s); try again when it has finished"
    with locked_output(path, real, busy, "batch output", wait):
        yield PartSink(output, settings, part_rows)


class PartSink:
    """Collects result tables and writes them as Parquet parts of about `part_rows` rows (see `open_sink`)."""

    def __init__(self, output: str, settings: RunSettings, part_rows: int) -> None:
        self.output = output
        self.settings = settings
        self.fs, self.root = uri.filesystem(output)
        self.local = not uri.is_uri(output)
        self.part_rows = part_rows
        self._pending: list = []
        self._pending_rows = 0
        self.parts = self.rows = self.failed = 0
        names = self._survey()
        self._started = RUN_FILE in names
        self._stale = [n for n in names if _TEMP.match(n)]
        self._next = 1 + max((int(m.group(1)) for n in names if (m := _PART.match(n))), default=-1)
        self.done = self._done_paths([n for n in names if _PART.match(n)])

    def _path(self, name: str) -> str:
        return f"{self.root.rstrip('/')}/{name}"

    def _survey(self) -> list[str]:
        """The names in the output folder, once it is known to be ours (empty, missing or with a run file whose
        settings are ours); nothing is changed."""
        pafs = uri.pyarrow_fs()
        try:
            kind = self.fs.get_file_info(self.root).type
            if kind == pafs.FileType.NotFound:
                return []
            if kind != pafs.FileType.Directory:
                raise ZsclfError(f"{self.output}: exists and is not a folder; choose another --output")
            names = sorted(i.base_name for i in self.fs.get_file_info(pafs.FileSelector(self.root)))
        except OSError as exc:
            raise ZsclfError(f"{self.output}: cannot use as output: {os_reason(exc)}") from None
        if names and RUN_FILE not in names:
            raise ZsclfError(f"{self.output}: exists and is not a `zsclf batch` output (it holds {names[0]!r} and "
                             f"no {RUN_FILE}); choose another --output (nothing was changed)")
        if names:
            self._check_settings(self.settings)
        return names

    def _start(self) -> None:
        """Before the first part: the folder made (URIs), stale temp parts removed, the run file written."""
        try:
            if not self._started and not self.local:
                self.fs.create_dir(self.root, recursive=True)
            for name in self._stale:
                self.fs.delete_file(self._path(name))  # left by a run of ours killed while writing
        except OSError as exc:
            raise ZsclfError(f"{self.output}: cannot write: {os_reason(exc)}") from None
        if not self._started:
            self._write(RUN_FILE, (json.dumps(typed_json.dump(self.settings), indent=2) + "\n").encode())
        self._started, self._stale = True, []

    def _check_settings(self, settings: RunSettings) -> None:
        source = f"{self.output}/{RUN_FILE}"
        try:
            with self.fs.open_input_stream(self._path(RUN_FILE)) as fh:
                data = json.loads(fh.read(1 << 20))
        except (OSError, ValueError) as exc:
            raise ZsclfError(f"{source}: cannot read ({exc}); choose another --output") from None
        differ = settings.differences(typed_json.load(RunSettings, data, source))
        if differ:
            raise ZsclfError(f"{self.output} holds results made with other settings: {'; '.join(differ)}; "
                             "resume with the same options, or choose another --output")

    def _done_paths(self, parts: list[str]) -> set[str]:
        """The `path` column of every part (read 8 at a time: on an object store each read waits)."""
        import pyarrow.parquet as pq

        def paths_in(name: str) -> list[str]:
            try:
                return pq.read_table(self._path(name), columns=["path"], filesystem=self.fs).column(0).to_pylist()
            except (OSError, ValueError) as exc:
                raise ZsclfError(f"{self.output}/{name}: damaged part ({str(exc).splitlines()[0]}); "
                                 "delete it to score its inputs again") from None

        done: set[str] = set()
        with ThreadPoolExecutor(8) as pool:
            for paths in pool.map(paths_in, parts):
                done.update(paths)
        return done

    def _write(self, name: str, data: bytes) -> None:
        """A file in the output folder, all or nothing."""
        try:
            if self.local:
                with atomic_file(self._path(name)) as fh:
                    fh.write(data)
                fsync_dir(self.root)
            else:
                with self.fs.open_output_stream(self._path(name)) as fh:
                    fh.write(data)
        except OSError as exc:
            raise ZsclfError(f"{self.output}: cannot write {name}: {os_reason(exc)}; the parts already there are "
                             "whole: make room and run again to resume") from None

    def add(self, table) -> None:
        """Queue a results table; whole parts are written as soon as there are enough rows."""
        table = table.select(list(COLUMNS)).cast(result_schema())
        self._pending.append(table)
        self._pending_rows += table.num_rows
        self.failed += table.num_rows - table.column("error").null_count
        if self._pending_rows >= self.part_rows:
            self.flush()

    def flush(self) -> None:
        """Write what is queued as one part."""
        if not self._pending_rows:
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.concat_tables(self._pending)
        self._pending, self._pending_rows = [], 0  # not written again by the flush of a failed run
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink)
        self._start()
        self._write(f"part-{self._next:06d}-{uuid.uuid4().hex[:12]}.parquet", sink.getvalue().to_pybytes())
        self._next += 1
        self.parts += 1
        self.rows += table.num_rows

