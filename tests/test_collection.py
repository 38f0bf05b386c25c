"""Photo collections through the library: incremental updates (add, change, touch, move, copy, delete),
what the walk skips, protection of folders that cannot be listed, refusal of damaged or foreign files,
and search by text, by example and with arithmetic. Real models, real photos (tests/images)."""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from conftest import IMAGES, SHARED, needs_shared
from zsclf.collection.collection import Collection
from zsclf.errors import ZsclfError

PHOTOS = sorted(p.name for p in IMAGES.glob("*") if p.suffix in (".png", ".jpg"))


@pytest.fixture(scope="module")
def embedder(models_ready):
    from zsclf.collection.embedder import PhotoEmbedder, make_setup

    return PhotoEmbedder(make_setup())


@pytest.fixture
def folder(tmp_path) -> Path:
    root = tmp_path / "photos"
    root.mkdir()
    for name in PHOTOS:
        shutil.copy2(IMAGES / name, root / name)
    return root


def open_collection(db: Path, embedder) -> Collection:
    collection = Collection.open(db)
    collection._photos = embedder  # one loaded CNN for the whole module
    return collection


def add(db: Path, embedder, *folders, **options):
    with open_collection(db, embedder) as collection:
        return collection.add([str(f) for f in folders], **options)


def stored_paths(db: Path) -> set[str]:
    with sqlite3.connect(db) as conn:
        return {os.fsdecode(p) for (p,) in conn.execute("SELECT path FROM photos")}


def test_incremental_updates_embed_only_what_changed(tmp_path, folder, embedder):
    db = tmp_path / "c.db"
    first = add(db, embedder, folder)
    assert (first.added, first.embedded, first.unchanged, first.failed) == (len(PHOTOS), len(PHOTOS), 0, 0)
    again = add(db, embedder, folder)
    assert (again.added, again.updated, again.removed, again.unchanged, again.embedded) == (0, 0, 0, len(PHOTOS), 0)

    os.utime(folder / "rocket.jpg", ns=(1, 1))  # touched: same content, new mtime
    (folder / "sub").mkdir()
    os.rename(folder / "coffee.png", folder / "sub" / "moved.png")  # moved
    shutil.copy2(folder / "flower.jpg", folder / "sub" / "copy.jpg")  # copied
    shutil.copyfile(IMAGES / "chelsea.png", folder / "grace_hopper.jpg")  # content replaced
    (folder / "flower.jpg").unlink()  # deleted
    s = add(db, embedder, folder)
    assert (s.added, s.updated, s.removed, s.failed) == (2, 1, 2, 0), s
    assert s.embedded == 0 and s.reused == 3  # every vector came from content already held
    assert s.unchanged == len(PHOTOS) - 3  # chelsea, rocket (touched) and the untouched one
    assert stored_paths(db) == {str(folder / n) for n in ("chelsea.png", "rocket.jpg", "grace_hopper.jpg",
                                                          "sub/moved.png", "sub/copy.jpg")}
    with open_collection(db, embedder) as c:
        top = c.search("a cat", k=2)
        assert {Path(h.path).name for h in top} == {"chelsea.png", "grace_hopper.jpg"}
        assert top[0].score == pytest.approx(top[1].score)


def test_hidden_system_excluded_and_special_files_are_skipped(tmp_path, folder, embedder):
    for hidden in (".hidden.jpg", ".thumbnails/a.jpg", "@eaDir/b.jpg", "$RECYCLE.BIN/c.jpg", "raw/d.jpg",
                   "keep/e.png", "keep/deep/raw/f.jpg"):
        (folder / hidden).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(IMAGES / "rocket.jpg", folder / hidden)
    os.mkfifo(folder / "pipe.jpg")
    (folder / "link.jpg").symlink_to(folder / "nowhere.jpg")
    (folder / "notes.txt").write_text("not a photo")
    reports = []
    s = add(tmp_path / "c.db", embedder, folder, exclude=["raw", "*.png"],
            report=lambda kind, message: reports.append((kind, message)))
    assert stored_paths(tmp_path / "c.db") == {str(folder / n) for n in PHOTOS if n.endswith(".jpg")}
    assert s.skipped == {"special": 1, "link": 1}
    assert any("pipe.jpg: is a FIFO" in m for _, m in reports)


def test_a_folder_that_cannot_be_listed_keeps_its_photos(tmp_path, folder, embedder, monkeypatch):
    (folder / "drive").mkdir()
    shutil.copy2(IMAGES / "rocket.jpg", folder / "drive" / "r.jpg")
    db = tmp_path / "c.db"
    add(db, embedder, folder)
    real_scandir = os.scandir

    def scandir(path):
        if os.fspath(path).endswith("drive"):
            raise PermissionError(13, "Permission denied")
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    s = add(db, embedder, folder)
    assert s.removed == 0 and s.skipped == {"unreadable": 1}
    assert str(folder / "drive" / "r.jpg") in stored_paths(db)


def test_separate_folders_are_kept_apart_and_a_missing_folder_changes_nothing(tmp_path, folder, embedder):
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy2(IMAGES / "rocket.jpg", other / "r.jpg")
    db = tmp_path / "c.db"
    add(db, embedder, folder)
    s = add(db, embedder, other)  # updating one folder never forgets another's photos
    assert (s.added, s.removed) == (1, 0) and len(stored_paths(db)) == len(PHOTOS) + 1
    with pytest.raises(ZsclfError, match="no such folder"):
        add(db, embedder, tmp_path / "unplugged")
    assert not (tmp_path / "new.db").exists()
    with pytest.raises(ZsclfError, match="no such folder"):
        add(tmp_path / "new.db", embedder, tmp_path / "unplugged")
    assert not (tmp_path / "new.db").exists()


def test_unreadable_photos_are_remembered_and_not_retried(tmp_path, folder, embedder):
    (folder / "broken.jpg").write_bytes(b"not really a jpeg")
    db = tmp_path / "c.db"
    failures = []
    s = add(db, embedder, folder, report=lambda kind, message: failures.append(message))
    assert s.failed == 1 and "broken.jpg" in failures[0]
    again = add(db, embedder, folder)
    assert (again.failed, again.embedded, again.unchanged) == (0, 0, len(PHOTOS) + 1)
    with open_collection(db, embedder) as c:
        assert len(c) == len(PHOTOS) and all(not h.path.endswith("broken.jpg") for h in c.search("a photo", k=10))


def test_paths_that_are_not_utf8_round_trip(tmp_path, embedder):
    root = tmp_path / "photos"
    root.mkdir()
    name = os.fsdecode(b"caf\xe9.jpg")
    shutil.copy2(IMAGES / "rocket.jpg", root / name)
    db = tmp_path / "c.db"
    add(db, embedder, root)
    with open_collection(db, embedder) as c:
        (hit,) = c.search("a rocket", k=1)
    assert os.fsencode(hit.path) == os.fsencode(str(root)) + b"/caf\xe9.jpg"
    assert add(db, embedder, root).unchanged == 1


@pytest.mark.parametrize("damage", ["garbage", "foreign", "newer", "truncated"])
def test_damaged_or_foreign_files_are_refused_and_left_alone(tmp_path, folder, embedder, damage):
    db = tmp_path / "c.db"
    if damage == "garbage":
        db.write_bytes(b"these are my notes, not a database" * 100)
    elif damage == "foreign":
        with sqlite3.connect(db) as conn:
            conn.execute("CREATE TABLE meta (key TEXT, value TEXT)")
    else:
        add(db, embedder, folder)
        if damage == "newer":
            with sqlite3.connect(db) as conn:
                conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
        else:
            data = db.read_bytes()
            db.write_bytes(data[:4096] + b"\x55" * (len(data) - 4096))
    before = db.read_bytes()
    with pytest.raises(ZsclfError) as err:
        Collection.open(db, check=True).add([str(folder)])
    assert "\n" not in str(err.value) and str(db) in str(err.value)
    assert db.read_bytes() == before


def test_search_by_example_and_arithmetic(tmp_path, folder, embedder):
    db = tmp_path / "c.db"
    add(db, embedder, folder)
    with open_collection(db, embedder) as c:
        like = c.search(like=folder / "chelsea.png", k=len(PHOTOS))
        assert str(folder / "chelsea.png") not in [h.path for h in like]  # never its own first answer
        outside = c.search(like=IMAGES / "chelsea.png", k=1)  # not in the collection: found by content
        assert outside[0].path == str(folder / "chelsea.png") and outside[0].score == pytest.approx(1.0, abs=1e-3)
        moved = c.search(like=folder / "chelsea.png", plus=["a rocket"], k=1)
        assert Path(moved[0].path).name == "rocket.jpg"
        cat = c.query_vector("a cat")
        assert np.allclose(c.query_vector("a cat", plus=["a rocket"], minus=["a rocket"]), cat, atol=1e-5)
        with pytest.raises(ZsclfError, match="cancel"):
            c.query_vector(plus=["a rocket"], minus=["a rocket"])
        with pytest.raises(ZsclfError, match="needs a query"):
            c.search(k=3)


def test_an_existing_collection_keeps_its_embedding_setup(tmp_path, folder, embedder):
    db = tmp_path / "c.db"
    add(db, embedder, folder)
    same = Collection.open(db, top_t=50, temperature=2.0, projection=None)
    same._photos = embedder
    assert same.add([str(folder)]).unchanged == len(PHOTOS)
    with pytest.raises(ZsclfError, match="--top-t cannot change now"):
        Collection.open(db, top_t=10).add([str(folder)])
    assert Collection.open(db).setup.top_t == 50 and Collection.open(db).setup.describe().startswith("ConSE (top-50")


def test_a_second_update_at_the_same_time_is_refused(tmp_path, folder, embedder):
    from zsclf.collection.collection import _update_lock

    db = tmp_path / "c.db"
    add(db, embedder, folder)
    with _update_lock(db), pytest.raises(ZsclfError, match="another `zsclf photos`"):
        add(db, embedder, folder)


def test_heic_photos_through_the_optional_extra(tmp_path, embedder, monkeypatch):
    pillow_heif = pytest.importorskip("pillow_heif", reason="the heif extra (pillow-heif) is not installed")
    from PIL import Image

    root = tmp_path / "phone"
    root.mkdir()
    pillow_heif.register_heif_opener()
    Image.open(IMAGES / "rocket.jpg").convert("RGB").save(root / "IMG_0001.HEIC")
    db = tmp_path / "c.db"
    assert add(db, embedder, root).embedded == 1
    with open_collection(db, embedder) as c:
        jpeg = c.photo_vector(IMAGES / "rocket.jpg")
        assert float((c.photo_vector(root / "IMG_0001.HEIC") @ jpeg.T)[0, 0]) > 0.9
    import zsclf.data.heif as heif

    monkeypatch.setattr(heif, "_state", {"ok": False})
    errors = []
    s = add(tmp_path / "d.db", embedder, root, report=lambda kind, message: errors.append(message))
    assert s.failed == 1 and "pip install 'zsclf[heif]'" in errors[0]


@needs_shared("coco-captions")
def test_arithmetic_on_coco_moves_a_known_object_in_and_out(tmp_path, embedder):
    """Kiros' arithmetic with an answer known from COCO's object labels: the photos closest to a street scene
    with a truck, plus "truck", all show a truck; minus "truck", none of them does."""
    coco = (SHARED / "coco-captions").resolve()  # a collection records photos under their real folder
    objects = {str(coco / row.split("\t")[0]): set(row.split("\t")[1].split(","))
               for row in (coco / "objects.tsv").read_text().splitlines()[1:]}
    db = tmp_path / "coco.db"
    assert add(db, embedder, coco).added == len(objects)
    like = coco / "val2017" / "000000155341.jpg"
    assert "truck" in objects[str(like)]
    with open_collection(db, embedder) as c:
        plus = c.search(like=like, plus=["truck"], k=3)
        minus = c.search(like=like, minus=["truck"], k=3)
    assert all("truck" in objects[h.path] for h in plus)
    assert not any("truck" in objects[h.path] for h in minus)
