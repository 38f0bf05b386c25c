"""Issue 16, photo collections (`zsclf photos`, `zsclf search`) through the real CLI: an unplugged or swapped
drive keeps its photos, odd --db files and non-UTF-8 queries are one line and exit 2, a collection in a
read-only folder is searched, a symlinked root is one record per photo, and NaN vectors are never silent."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from conftest import IMAGES, run_cli


def stored(db: Path) -> dict[str, int | None]:
    """path -> dev of every record (read-only, so the test never changes the file)."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return {os.fsdecode(p): d for p, d in conn.execute("SELECT path, dev FROM photos")}


def summary(proc: subprocess.CompletedProcess) -> str:
    return proc.stderr.splitlines()[-1].split(": ", 2)[-1]


def copy(folder: Path, *names: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy2(IMAGES / name, folder / name)


@contextmanager
def mounted(target: Path, *options: str, source: str = "none"):
    """`mount` (we run as root in CI containers); skip the test where mounting is not allowed."""
    proc = subprocess.run(["mount", *options, source, str(target)], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount here ({proc.stderr.strip()}): needs root with CAP_SYS_ADMIN")
    try:
        yield target
    finally:
        subprocess.run(["umount", str(target)], check=True)


# ---- 1. unplugged drives ----------------------------------------------------------------------------

def test_an_unplugged_drive_keeps_its_photos_until_prune(models_ready, tmp_path):
    root, db = tmp_path / "photos", tmp_path / "c.db"
    copy(root / "usb" / "2020", "rocket.jpg", "chelsea.png")
    copy(root / "home", "flower.jpg", "coffee.png")
    run_cli("photos", str(root), "--db", str(db), "-q", expect=0)
    everything = set(stored(db))
    assert len(everything) == 4

    shutil.move(root / "usb", tmp_path / "away")
    (root / "usb").mkdir()  # the empty mount point an unplugged drive leaves
    proc = run_cli("photos", str(root), "--db", str(db), "-q", expect=0)
    assert proc.stderr.splitlines() == [
        f"zsclf: kept 2 photos under {root / 'usb'}: the folder is empty (an unplugged drive?); --prune forgets them",
        f"zsclf: {db}: added 0, updated 0, removed 0, unchanged 2, failed 0 (2 kept: their folders are missing, "
        "empty or on another device)"]
    assert set(stored(db)) == everything

    (root / "usb").rmdir()  # the folder vanished inside the walked root
    proc = run_cli("photos", str(root), "--db", str(db), "-q", expect=0)
    assert f"kept 2 photos under {root / 'usb'}: the folder is missing" in proc.stderr
    assert set(stored(db)) == everything

    proc = run_cli("photos", str(root / "usb"), "--db", str(db), "-q", expect=2)  # a missing root: nothing done
    assert "no such folder" in proc.stderr and set(stored(db)) == everything

    (root / "home" / "coffee.png").unlink()  # deleted from a folder that is there: forgotten
    proc = run_cli("photos", str(root), "--db", str(db), "-q", expect=0)
    assert summary(proc).startswith("added 0, updated 0, removed 1, unchanged 1, failed 0 (2 kept")
    proc = run_cli("photos", str(tmp_path / "nowhere"), "--db", str(db), "-q", "--prune", expect=2)
    assert "no such folder" in proc.stderr  # --prune takes a folder that is gone only when it held photos
    proc = run_cli("photos", str(root / "usb"), "--db", str(db), "-q", "--prune", expect=0)
    assert proc.stderr.splitlines() == [f"zsclf: {db}: added 0, updated 0, removed 2, unchanged 0, failed 0"]
    assert set(stored(db)) == {str(root / "home" / "flower.jpg")}
    (root / "home" / "flower.jpg").unlink()  # an emptied folder: kept until --prune, then forgotten
    assert "kept 1 photo under" in run_cli("photos", str(root), "--db", str(db), "-q", expect=0).stderr
    proc = run_cli("photos", str(root), "--db", str(db), "-q", "--prune", expect=0)
    assert summary(proc) == "added 0, updated 0, removed 1, unchanged 0, failed 0" and stored(db) == {}


def test_an_empty_root_keeps_its_photos(models_ready, tmp_path):
    root, db = tmp_path / "usb", tmp_path / "c.db"
    copy(root, "rocket.jpg")
    run_cli("photos", str(root), "--db", str(db), "-q", expect=0)
    (root / "rocket.jpg").unlink()
    proc = run_cli("photos", str(root), "--db", str(db), "-q", expect=0)
    assert f"kept 1 photo under {root}: the folder is empty" in proc.stderr
    assert "removed 0" in summary(proc) and set(stored(db)) == {str(root / "rocket.jpg")}


def test_another_drive_at_the_same_mount_point_does_not_forget_the_first(models_ready, tmp_path):
    root, db = tmp_path / "mnt", tmp_path / "c.db"
    root.mkdir()
    with mounted(root, "-t", "tmpfs"):
        copy(root / "DCIM", "rocket.jpg", "chelsea.png")
        run_cli("photos", str(root), "--db", str(db), "-q", expect=0)
        first_dev = os.stat(root / "DCIM").st_dev
        # another drive over it (the first stays mounted below, so its device number is not reused)
        with mounted(root, "-t", "tmpfs"):
            copy(root / "DCIM", "flower.jpg")
            assert os.stat(root / "DCIM").st_dev != first_dev
            proc = run_cli("photos", str(root), "--db", str(db), "-q", expect=0)
            assert f"kept 2 photos under {root / 'DCIM'}: the folder is on another device" in proc.stderr
            assert summary(proc).startswith("added 1, updated 0, removed 0")
            assert set(stored(db)) == {str(root / "DCIM" / n) for n in ("rocket.jpg", "chelsea.png", "flower.jpg")}


def test_a_collection_from_before_dev_keeps_working(models_ready, tmp_path):
    root, db = tmp_path / "photos", tmp_path / "c.db"
    copy(root, "rocket.jpg")
    run_cli("photos", str(root), "--db", str(db), "-q", expect=0)
    with sqlite3.connect(db) as conn:  # the schema of zsclf 0.3: no dev column
        conn.execute("ALTER TABLE photos DROP COLUMN dev")
    assert run_cli("search", "a rocket", "--db", str(db), expect=0).stdout.count("rocket.jpg") == 1
    proc = run_cli("photos", str(root), "--db", str(db), "-q", expect=0)
    assert summary(proc) == "added 0, updated 0, removed 0, unchanged 1, failed 0"
    assert stored(db) == {str(root / "rocket.jpg"): os.stat(root).st_dev}  # recorded on the way


# ---- 2. odd --db files and queries ------------------------------------------------------------------

def test_a_0_byte_file_is_an_empty_collection(models_ready, tmp_path):
    root, db = tmp_path / "photos", tmp_path / "c.db"
    copy(root, "rocket.jpg")
    db.write_bytes(b"")
    proc = run_cli("search", "a rocket", "--db", str(db), expect=2)
    assert proc.stderr == f"zsclf: error: no photo collection at {db}: make one with `zsclf photos FOLDER --db {db}`\n"
    assert db.read_bytes() == b""
    run_cli("photos", str(root), "--db", str(db), "-q", expect=0)
    assert set(stored(db)) == {str(root / "rocket.jpg")}


@pytest.mark.parametrize("where, message", [
    ("{tmp}/afile/c.db", "cannot make the photo collection: {tmp}/afile: not a folder"),
    ("/proc/zsclf-test/c.db", "cannot make the photo collection: /proc/zsclf-test:"),
    ("/proc/c.db", "/proc/c.db: cannot open the photo collection"),
])
def test_a_db_where_none_can_be_made_is_one_line_exit_2(models_ready, tmp_path, where, message):
    (tmp_path / "photos").mkdir()
    (tmp_path / "afile").write_text("mine")
    proc = run_cli("photos", str(tmp_path / "photos"), "--db", where.format(tmp=tmp_path), "-q", expect=2)
    assert proc.stdout == "" and len(proc.stderr.splitlines()) == 1 and message.format(tmp=tmp_path) in proc.stderr
    assert (tmp_path / "afile").read_text() == "mine"


def test_queries_that_are_not_utf8_are_one_line_exit_2(models_ready, tmp_path):
    root, db = tmp_path / "photos", tmp_path / "c.db"
    copy(root, "rocket.jpg")
    run_cli("photos", str(root), "--db", str(db), "-q", expect=0)
    proc = subprocess.run([sys.executable, "-m", "zsclf.cli", "search", "-", "--db", str(db)],
                          input=b"a rocket\na \xff cat\n", capture_output=True, timeout=300)
    assert proc.returncode == 2 and proc.stdout == b""
    assert proc.stderr == b"zsclf: error: query 'a \\udcff cat' is not UTF-8 text: give queries in UTF-8\n"


# ---- 3. read-only ------------------------------------------------------------------------------------

def test_search_in_a_read_only_folder(models_ready, tmp_path):
    root, data, ro = tmp_path / "photos", tmp_path / "data", tmp_path / "ro"
    copy(root, "chelsea.png", "rocket.jpg")
    data.mkdir()
    ro.mkdir()
    run_cli("photos", str(root), "--db", str(data / "c.db"), "-q", expect=0)
    before = {p.name: p.read_bytes() for p in data.iterdir()}
    with mounted(ro, "--bind", source=str(data)):
        subprocess.run(["mount", "-o", "remount,ro,bind", str(ro)], check=True)
        proc = run_cli("search", "a cat", "--db", str(ro / "c.db"), "-k", "1", expect=0)
        assert proc.stderr == "" and json.loads(proc.stdout)["results"][0]["path"] == str(root / "chelsea.png")
        proc = run_cli("photos", str(root), "--db", str(ro / "c.db"), "-q", expect=2)
        assert len(proc.stderr.splitlines()) == 1 and "is read-only here" in proc.stderr
    assert {p.name: p.read_bytes() for p in data.iterdir()} == before


def test_read_only_open_as_a_library_call(models_ready, tmp_path, monkeypatch):
    from zsclf.collection import dbfile
    from zsclf.collection.collection import Collection
    from zsclf.errors import ZsclfError

    root, db = tmp_path / "photos", tmp_path / "c.db"
    copy(root, "chelsea.png")
    run_cli("photos", str(root), "--db", str(db), "-q", expect=0)
    before = db.read_bytes()
    real = sqlite3.connect
    tried = []

    def connect(database, *args, **kwargs):  # as in a read-only folder: no -shm can be made, so mode=ro fails
        tried.append(database)
        if "immutable=1" not in str(database):
            raise sqlite3.OperationalError("unable to open database file")
        return real(database, *args, **kwargs)

    monkeypatch.setattr(dbfile.sqlite3, "connect", connect)
    with Collection.open(db, readonly=True) as c:
        assert [Path(h.path).name for h in c.search("a cat", k=1)] == ["chelsea.png"]
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            c.store.conn.execute("DELETE FROM photos")
    assert [u.split("?")[1] for u in tried] == ["mode=ro", "mode=ro&immutable=1"]
    Path(f"{db}-wal").write_bytes(b"")  # an empty -wal holds nothing: immutable is still safe
    with Collection.open(db, readonly=True) as c:
        assert len(c) == 1
    Path(f"{db}-wal").write_bytes(b"\0" * 32)  # changes not checkpointed, or a writer at work: never immutable
    tried.clear()
    with pytest.raises(ZsclfError, match="cannot open the photo collection"):
        Collection.open(db, readonly=True)
    assert [u.split("?")[1] for u in tried] == ["mode=ro"] and db.read_bytes() == before


# ---- 4. symlinked roots ------------------------------------------------------------------------------

def test_a_root_reached_through_a_link_is_one_record_per_photo(models_ready, tmp_path):
    real, link, db = tmp_path / "real", tmp_path / "link", tmp_path / "c.db"
    copy(real, "rocket.jpg", "flower.jpg")
    link.symlink_to(real)
    proc = run_cli("photos", str(link), "--db", str(db), "-q", expect=0)
    assert proc.stderr.splitlines()[0] == f"zsclf: {link}: its photos are recorded under {real} (symbolic links " \
                                          "resolved)"
    assert summary(proc) == "added 2, updated 0, removed 0, unchanged 0, failed 0"
    proc = run_cli("photos", str(real), "--db", str(db), "-q", expect=0)
    assert summary(proc) == "added 0, updated 0, removed 0, unchanged 2, failed 0"
    assert set(stored(db)) == {str(real / "rocket.jpg"), str(real / "flower.jpg")}

    with sqlite3.connect(db) as conn:  # as an older zsclf stored it: under the link
        conn.executemany("UPDATE photos SET path = ? WHERE path = ?", [
            (os.fsencode(link / Path(os.fsdecode(p)).name), p) for (p,) in conn.execute("SELECT path FROM photos")])
    proc = run_cli("photos", str(link), "--db", str(db), "-q", expect=0)
    assert summary(proc) == ("added 2, updated 0, removed 2, unchanged 0, failed 0 "
                             "(2 reused from identical files (moved or copied))")
    assert set(stored(db)) == {str(real / "rocket.jpg"), str(real / "flower.jpg")}


# ---- 5. NaN vectors ----------------------------------------------------------------------------------

def test_nan_vectors_are_counted_at_search_and_read_again_by_photos(models_ready, tmp_path):
    root, db = tmp_path / "photos", tmp_path / "c.db"
    copy(root, "chelsea.png", "rocket.jpg")
    run_cli("photos", str(root), "--db", str(db), "-q", expect=0)
    with sqlite3.connect(db) as conn:
        dim = len(conn.execute("SELECT vector FROM photos").fetchone()[0]) // 2
        conn.execute("UPDATE photos SET vector = ? WHERE path = ?",
                     (np.full(dim, np.nan, "<f2").tobytes(), os.fsencode(root / "chelsea.png")))
    proc = run_cli("search", "a cat", "--db", str(db), "-k", "5", expect=0)
    assert [Path(h["path"]).name for h in json.loads(proc.stdout)["results"]] == ["rocket.jpg"]
    assert proc.stderr == (f"zsclf: 1 photos of {db} were left out: their stored vectors are not finite (NaN); "
                           f"`zsclf photos FOLDER --db {db}` reads them again\n")
    proc = run_cli("search", "--like", str(root / "chelsea.png"), "--db", str(db), "-k", "1", expect=0)
    assert json.loads(proc.stdout)["results"][0]["path"] == str(root / "rocket.jpg")  # its NaN is not the query
    proc = run_cli("photos", str(root), "--db", str(db), "-q", expect=0)
    assert summary(proc) == ("added 0, updated 1, removed 0, unchanged 1, failed 0 "
                             "(1 stored vectors that were not finite dropped)")
    proc = run_cli("search", "a cat", "--db", str(db), "-k", "1", expect=0)
    assert proc.stderr == "" and json.loads(proc.stdout)["results"][0]["path"] == str(root / "chelsea.png")


def test_a_nan_from_the_model_is_never_stored(models_ready, tmp_path):
    from zsclf.collection.collection import Collection
    from zsclf.collection.embedder import PhotoEmbedder, make_setup

    class NanEmbedder(PhotoEmbedder):
        def stream(self, paths, batch_size=32):
            for batch in super().stream(paths, batch_size):
                read = [p for p, e in zip(batch.paths, batch.errors, strict=True) if e is None]
                batch.queries[[i for i, p in enumerate(read) if p.endswith("chelsea.png")]] = np.nan
                yield batch

    root, db = tmp_path / "photos", tmp_path / "c.db"
    copy(root, "chelsea.png", "rocket.jpg")
    failures = []
    with Collection.open(db) as c:
        c._photos = NanEmbedder(make_setup())
        s = c.add([root], report=lambda kind, message: failures.append((kind, message)))
    assert (s.added, s.failed) == (1, 1)
    assert failures == [("failed", f"{root / 'chelsea.png'}: the model gave a vector that is not finite "
                                   "(NaN or infinity)")]
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM photos WHERE vector IS NULL AND error IS NOT NULL").fetchone() == (1,)
