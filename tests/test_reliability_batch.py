"""`zsclf batch` reliability (issue 16, round 2), through the real CLI with the local engine: whose output
folder it is, refused runs that write nothing, URIs that do not answer, an index rebuilt under a resume,
two runs on one output, relative and absolute inputs, a full disk."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import IMAGES, run_cli

pq = pytest.importorskip("pyarrow.parquet", reason="zsclf batch needs pyarrow (the `batch` extra)")

PHOTOS = ("chelsea.png", "coffee.png", "flower.jpg", "grace_hopper.jpg", "rocket.jpg")


@pytest.fixture(scope="module")
def small_index(tmp_path_factory, models_ready) -> Path:
    """A five-label index (quick to load), built once."""
    folder = tmp_path_factory.mktemp("index")
    (folder / "labels.txt").write_text("tabby cat\nespresso\nrocket\nsailboat\ngiraffe\n")
    run_cli("build-index", str(folder / "labels.txt"), "-o", str(folder / "idx"), "-q", expect=0)
    return folder / "idx"


@pytest.fixture
def photos(tmp_path) -> list[str]:
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in PHOTOS:
        shutil.copy(IMAGES / name, folder / name)
    return [str(folder / name) for name in PHOTOS]


def batch(index: Path, *args: str, expect: int | None = 0, cwd: Path | None = None, env: dict | None = None,
          timeout: float = 600) -> subprocess.CompletedProcess:
    """`zsclf batch --index INDEX ARGS -q` (in `cwd` when given; TimeoutExpired after `timeout` seconds)."""
    command = [sys.executable, "-m", "zsclf.cli", "batch", "--index", str(index), "-q", *args]
    proc = subprocess.run(command, capture_output=True, text=True, cwd=cwd, env={**os.environ, **(env or {})},
                          timeout=timeout)
    if expect is not None:
        assert proc.returncode == expect, f"exit {proc.returncode}, expected {expect}: {proc.stderr}"
    return proc


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def written_paths(out: Path) -> list[str]:
    return sorted(pq.read_table(out, columns=["path"]).column(0).to_pylist())


def one_error_line(proc: subprocess.CompletedProcess, *words: str) -> str:
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("zsclf: error: "), proc.stderr
    assert all(word in lines[0] for word in words), lines[0]
    return lines[0]


def test_a_foreign_folder_is_left_exactly_as_it_was(tmp_path, small_index, photos):
    for files in ({"notes.txt": b"mine", ".part-000001-abc.parquet.draft.tmp": b"my draft"},
                  {".part-000001-abc.parquet.draft.tmp": b"only my draft"}):
        theirs = tmp_path / f"theirs{len(files)}"
        theirs.mkdir()
        for name, data in files.items():
            (theirs / name).write_bytes(data)
        before = snapshot(theirs)
        proc = batch(small_index, photos[0], "-o", str(theirs), expect=2)
        one_error_line(proc, str(theirs), "not a `zsclf batch` output")
        assert snapshot(theirs) == before


def test_a_refused_run_writes_nothing(tmp_path, small_index, photos):
    new = tmp_path / "new" / "out"
    proc = batch(small_index, str(tmp_path / "absent.txt"), "-o", str(new), expect=2)
    one_error_line(proc, "absent.txt")
    assert not (tmp_path / "new").exists()  # neither the output nor the folder above it
    empty = tmp_path / "empty"
    empty.mkdir()
    batch(small_index, str(tmp_path / "absent.txt"), "-o", str(empty), expect=2)
    assert not list(empty.iterdir())  # no _zsclf_batch.json binding it to these settings
    batch(small_index, photos[0], "-o", str(empty), "--top-k", "2")  # so other settings are still free
    before = snapshot(empty)
    proc = batch(small_index, *photos, "-o", str(empty), "--top-k", "3", expect=2)
    one_error_line(proc, "top_k 2 (now 3)")
    assert snapshot(empty) == before


def test_an_unreachable_store_is_one_error_in_bounded_time(tmp_path, small_index):
    # no network here: without a time limit GCS retries for 15 minutes (the timeout is a hang guard)
    for source in ("gs://zsclf-no-such-bucket/list.txt", "s3://zsclf-no-such-bucket/list.txt?region=us-east-1"):
        proc = batch(small_index, source, "-o", str(tmp_path / "out"), expect=None, env={"ZSCLF_URI_TIMEOUT": "2"},
                     timeout=120)
        assert proc.returncode == 2, proc.stderr
        one_error_line(proc, source.split("?")[0])
        assert not (tmp_path / "out").exists()
    proc = batch(small_index, "gs://b/l.txt", "-o", str(tmp_path / "out"), expect=2, env={"ZSCLF_URI_TIMEOUT": "x"})
    one_error_line(proc, "ZSCLF_URI_TIMEOUT='x'")


def test_the_uri_time_limit_reaches_pyarrow(monkeypatch):
    from zsclf.core import uri

    monkeypatch.setenv("ZSCLF_URI_TIMEOUT", "7")
    s3, _ = uri.filesystem("s3://bucket/key?region=us-east-1")
    options = s3.__reduce__()[1][0]
    assert options["connect_timeout"] == options["request_timeout"] == 7
    gcs, _ = uri.filesystem("gs://bucket/key")
    assert gcs.__reduce__()[1][0]["retry_time_limit"].total_seconds() == 7
    gcs, _ = uri.filesystem("gs://bucket/key?retry_limit_seconds=3")  # the URI's own limit is kept
    assert gcs.__reduce__()[1][0]["retry_time_limit"].total_seconds() == 3


def test_a_resume_against_a_rebuilt_index_is_refused(tmp_path, models_ready, photos):
    labels = tmp_path / "labels.txt"
    labels.write_text("tabby cat\nespresso\nrocket\n")
    index = tmp_path / "idx"
    run_cli("build-index", str(labels), "-o", str(index), "-q", expect=0)
    out = tmp_path / "out"
    batch(index, *photos[:2], "-o", str(out))
    first = (out / "_zsclf_batch.json").read_text()
    labels.write_text("sailboat\ngiraffe\nteapot\n")  # the same count, other labels, the same path
    run_cli("build-index", str(labels), "-o", str(index), "-q", expect=0)
    before = snapshot(out)
    line = one_error_line(batch(index, *photos, "-o", str(out), expect=2), "index_files")
    old, new = (f"labels.tsv crc32 {part.split('labels.tsv crc32 ')[1][:8]}" for part in line.split("(now"))
    assert old != new and old in first and new in line  # names both versions
    assert snapshot(out) == before


def test_one_writer_at_a_time(tmp_path, small_index, photos):
    from zsclf.core.locking import folder_lock

    out = tmp_path / "out"
    batch(small_index, photos[0], "-o", str(out))
    before = snapshot(out)
    with folder_lock(out, 0, "held by the test", create=False):  # as if another run were writing
        proc = batch(small_index, *photos, "-o", str(out), expect=2, env={"ZSCLF_LOCK_WAIT": "0.5"})
    one_error_line(proc, str(out), "another zsclf batch is writing to it")
    assert snapshot(out) == before
    both = tmp_path / "both"
    command = [sys.executable, "-m", "zsclf.cli", "batch", "--index", str(small_index), "-q", "--part-rows", "1",
               *photos, "-o", str(both)]
    runs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    for run in runs:
        assert run.wait(timeout=600) == 0, run.stderr.read()
    assert written_paths(both) == sorted(photos)  # each once: the second waited, then found them all done


def test_relative_and_absolute_inputs_are_one(tmp_path, small_index, photos):
    (tmp_path / "list.txt").write_text("\n".join(PHOTOS[:3]) + "\n")
    shutil.move(tmp_path / "list.txt", tmp_path / "photos" / "list.txt")
    batch(small_index, "photos/list.txt", "-o", "out", cwd=tmp_path)
    assert written_paths(tmp_path / "out") == sorted(f"photos/{n}" for n in PHOTOS[:3])  # as the user gave them
    proc = batch(small_index, str(tmp_path / "photos" / "list.txt"), "./photos/rocket.jpg", "-o", "out",
                 cwd=tmp_path, expect=0)
    assert "skipped 3" in proc.stderr or "skipped 3" in proc.stdout, proc.stderr
    assert written_paths(tmp_path / "out") == sorted([f"photos/{n}" for n in PHOTOS[:3]] + ["./photos/rocket.jpg"])


@pytest.fixture
def small_disk(tmp_path):
    """A 96 KiB tmpfs (root only); skipped where it cannot be mounted."""
    disk = tmp_path / "disk"
    disk.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=96k", "tmpfs", str(disk)], capture_output=True,
                          text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {proc.stderr.strip() or proc.returncode}")
    yield disk
    subprocess.run(["umount", str(disk)], check=True)


def test_a_full_disk_is_one_line_and_the_resume_is_exact(tmp_path, small_index, small_disk):
    many = tmp_path / "many"
    many.mkdir()
    for i in range(60):
        shutil.copy(IMAGES / "coffee.png", many / f"coffee-{i:02d}.png")
    out = small_disk / "out"
    proc = batch(small_index, str(many), "-o", str(out), "--part-rows", "1", "--batch-size", "1", expect=2)
    one_error_line(proc, str(out), "No space left on device", "run again to resume")
    parts = sorted(out.glob("part-*.parquet"))
    assert parts and not list(out.glob(".*"))  # whole parts only, no temp file left
    assert sum(pq.read_metadata(p).num_rows for p in parts) == len(parts)
    subprocess.run(["mount", "-o", "remount,size=4m", str(small_disk)], check=True)
    batch(small_index, str(many), "-o", str(out), "--part-rows", "1", "--batch-size", "1")
    assert written_paths(out) == sorted(str(p) for p in many.iterdir())
