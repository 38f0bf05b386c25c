"""`zsclf photos` and `zsclf search` through the real CLI: the output contract, the summary line, exit codes,
a damaged collection refused with exit 2, and kill -9 in the middle of indexing, then resume."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from conftest import IMAGES, SHARED, needs_shared, run_cli


@pytest.fixture(scope="module")
def collection(models_ready, tmp_path_factory):
    root = tmp_path_factory.mktemp("photos")
    for name in ("chelsea.png", "coffee.png", "rocket.jpg", "flower.jpg"):
        shutil.copy2(IMAGES / name, root / name)
    shutil.copy2(IMAGES / "rocket.jpg", root / "résumé.jpg")
    db = root.parent / "photos.db"
    proc = run_cli("photos", str(root), "--db", str(db), "-q", expect=0)
    assert proc.stdout == ""
    assert proc.stderr.strip() == (f"zsclf: {db}: added 5, updated 0, removed 0, unchanged 0, failed 0 "
                                   "(1 reused from identical files (moved or copied))")
    return root, db


def test_search_output_contract(collection):
    root, db = collection
    proc = run_cli("search", "a cat", "a cup of coffee", "--db", str(db), "-k", "2", expect=0)
    assert proc.stderr == ""
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["query"] for r in lines] == ["a cat", "a cup of coffee"]
    assert lines[0]["results"][0] == {"path": str(root / "chelsea.png"), "score": lines[0]["results"][0]["score"]}
    assert os.path.basename(lines[1]["results"][0]["path"]) == "coffee.png"
    assert all(len(r["results"]) == 2 and set(r["results"][0]) == {"path", "score"} for r in lines)

    for fmt, delimiter in (("tsv", "\t"), ("csv", ",")):
        proc = run_cli("search", "a cat", "--db", str(db), "-k", "3", "-f", fmt, expect=0)
        rows = list(csv.reader(io.StringIO(proc.stdout), delimiter=delimiter))
        assert rows[0] == ["query", "rank", "path", "score"] and len(rows) == 4
        assert rows[1][:3] == ["a cat", "1", str(root / "chelsea.png")] and float(rows[1][3]) > 0.5

    table = run_cli("search", "a cat", "--db", str(db), "-k", "1", "-f", "table", expect=0).stdout
    assert "chelsea.png" in table and "a cat" in table


def test_paths_that_are_not_utf8_keep_their_bytes_in_tsv(models_ready, tmp_path):
    name = os.fsdecode(b"r\xe9sum\xe9.jpg")
    (tmp_path / "photos").mkdir()
    shutil.copy2(IMAGES / "rocket.jpg", tmp_path / "photos" / name)
    db = str(tmp_path / "c.db")
    zsclf = [sys.executable, "-m", "zsclf.cli"]
    subprocess.run([*zsclf, "photos", str(tmp_path / "photos"), "--db", db, "-q"], check=True, timeout=300)
    proc = subprocess.run([*zsclf, "search", "a rocket", "--db", db, "-f", "tsv"], capture_output=True, timeout=300)
    assert proc.returncode == 0 and proc.stderr == b""
    assert proc.stdout.splitlines()[1].split(b"\t")[2] == os.fsencode(str(tmp_path / "photos" / name))
    proc = subprocess.run([*zsclf, "search", "a rocket", "--db", db], capture_output=True, timeout=300)
    assert b"r\\udce9sum\\udce9.jpg" in proc.stdout  # JSON: the predict convention (surrogate escapes)
    assert json.loads(proc.stdout)["results"][0]["path"] == str(tmp_path / "photos" / name)


def test_like_plus_minus_and_stdin_queries(collection):
    root, db = collection
    proc = run_cli("search", "--like", str(root / "chelsea.png"), "--plus", "a rocket", "--db", str(db),
                   "-k", "1", expect=0)
    (record,) = [json.loads(line) for line in proc.stdout.splitlines()]
    assert record["query"] == f"like {root / 'chelsea.png'} + a rocket"
    assert os.path.basename(record["results"][0]["path"]) in ("rocket.jpg", "résumé.jpg")
    proc = run_cli("search", "-", "--db", str(db), "-k", "1", stdin="a cat\n\na flower\n", expect=0)
    assert [json.loads(line)["query"] for line in proc.stdout.splitlines()] == ["a cat", "a flower"]


@pytest.mark.parametrize("args, message", [
    (["search", "a cat", "--db", "{tmp}/missing.db"], "no photo collection at"),
    (["search", "--db", "{db}"], "nothing to search for"),
    (["search", "x", "--plus", "a cat", "--minus", "a cat", "--like", "{tmp}/nowhere.jpg", "--db", "{db}"], "--like"),
    (["photos", "{tmp}/unplugged", "--db", "{tmp}/new.db"], "no such folder"),
    (["search", "a cat", "--db", "{garbage}"], "not a usable zsclf photo collection"),
    (["photos", "{root}", "--db", "{garbage}"], "not a usable zsclf photo collection"),
])
def test_usage_errors_and_damaged_collections_exit_2(collection, tmp_path, args, message):
    root, db = collection
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"SQLite format 3\x00" + os.urandom(8000))
    before = garbage.read_bytes()
    names = {"tmp": tmp_path, "db": db, "root": root, "garbage": garbage}
    proc = run_cli(*[a.format(**names) for a in args], expect=2)
    assert proc.stdout == "" and len(proc.stderr.splitlines()) == 1 and message in proc.stderr, proc.stderr
    assert garbage.read_bytes() == before and not (tmp_path / "new.db").exists()


@needs_shared("imagenet-sample")
def test_kill_9_while_indexing_then_resume_never_redoes_committed_photos(models_ready, tmp_path):
    root = tmp_path / "photos"
    root.mkdir()
    n = 192  # enough batches of 8 that a fast machine is still busy when the kill comes
    sample = sorted((SHARED / "imagenet-sample").rglob("*.JPEG"))[:n]
    assert len(sample) == n
    for i, photo in enumerate(sample):
        os.symlink(photo, root / f"{i:03d}.jpg")
    db = tmp_path / "c.db"
    proc = subprocess.Popen([sys.executable, "-m", "zsclf.cli", "photos", str(root), "--db", str(db), "-q",
                             "--batch-size", "8"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    committed = 0
    deadline = time.monotonic() + 300
    while committed < 16 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
        committed = rows(db)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    committed = rows(db)
    assert 16 <= committed < n
    resumed = run_cli("photos", str(root), "--db", str(db), "-q", expect=0)
    counts = {k: int(v) for k, v in re.findall(r"(added|updated|removed|unchanged|failed) (\d+)", resumed.stderr)}
    assert counts == {"added": n - committed, "updated": 0, "removed": 0, "unchanged": committed, "failed": 0}
    assert rows(db) == n


def rows(db) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return conn.execute("SELECT count(*) FROM photos").fetchone()[0]
    except sqlite3.Error:
        return 0  # not created yet


def test_photos_reports_each_failure_once_and_exits_1(models_ready, tmp_path):
    root = tmp_path / "photos"
    root.mkdir()
    shutil.copy2(IMAGES / "rocket.jpg", root / "rocket.jpg")
    (root / "broken.jpg").write_bytes(b"not a photo")
    os.mkfifo(root / "pipe.jpg")
    db = str(tmp_path / "c.db")
    first = run_cli("photos", str(root), "--db", db, "-q", expect=1)
    assert first.stdout == ""
    assert first.stderr.splitlines() == [
        f"zsclf: skipped {root / 'pipe.jpg'}: is a FIFO (named pipe), not a regular file",
        f"zsclf: error: {root / 'broken.jpg'}: not an image Pillow can read",
        f"zsclf: {db}: added 1, updated 0, removed 0, unchanged 0, failed 1 (1 special skipped)"]
    again = run_cli("photos", str(root), "--db", db, "-q", expect=0)  # a broken photo is not retried
    assert again.stderr.splitlines()[-1] == f"zsclf: {db}: added 0, updated 0, removed 0, unchanged 2, failed 0 " \
                                            "(1 special skipped)"
