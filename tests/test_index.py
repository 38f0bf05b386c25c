"""Label indexes: exact search, exclusion, save/load round trip, damage detection, HNSW recall."""

from __future__ import annotations

import json

import numpy as np
import pytest

from zsclf.data.dataset import read_dataset
from zsclf.data.labels import read_labels
from zsclf.errors import ZsclfError
from zsclf.index.label_index import LabelIndex, all_finite
from zsclf.index.meta import FORMAT_VERSION, IndexMeta
from zsclf.index.store import (
    INDEX_FILE,
    LABELS_FILE,
    META_FILE,
    current_version,
    load_index,
    read_meta,
    republish,
    save_index,
)
from zsclf.learn.calibration import hnsw_recall
from zsclf.models.registry import ModelRef


def meta_for(n: int, dim: int, kind: str = "flat") -> IndexMeta:
    return IndexMeta(format=FORMAT_VERSION, kind=kind, metric="inner_product", dim=dim, count=n, space="text",
                     template="name", text_encoder=ModelRef("t", "abc", 16))


def make_index(n: int = 300, dim: int = 16, kind: str = "flat", seed: int = 0) -> tuple[LabelIndex, np.ndarray]:
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    names = [f"label {i}" for i in range(n)]
    ids = [f"n{i:08d}" for i in range(n)]
    index = LabelIndex.build(vectors, names, ids, meta_for(n, dim, kind))
    return index, vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_flat_search_matches_numpy():
    index, vectors = make_index()
    queries = vectors[:40] + 0.3 * np.random.default_rng(1).standard_normal((40, 16)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    result = index.search(queries, 5)
    expected = np.argsort(-(queries @ vectors.T), axis=1)[:, :5]
    assert (result.rows == expected).all()
    assert np.allclose(result.scores, np.take_along_axis(queries @ vectors.T, expected, axis=1), atol=1e-5)


def test_exclusion_never_returns_excluded_rows():
    index, vectors = make_index()
    excluded = np.arange(0, 300, 2)
    result = index.search(vectors[:20], 10, exclude_rows=excluded)
    assert not np.isin(result.rows, excluded).any()
    assert (result.rows >= 0).all()


def test_gpu_style_filtered_search_matches_selector():
    index, vectors = make_index()
    excluded = np.arange(50)
    a = index.search(vectors[:10], 5, exclude_rows=excluded)
    b = LabelIndex._search_filtered(index.faiss_index, vectors[:10], 5, excluded)
    assert (a.rows == b.rows).all()


def test_save_load_round_trip(tmp_path):
    index, vectors = make_index()
    save_index(index, tmp_path / "idx")
    loaded = load_index(tmp_path / "idx")
    assert loaded.names == index.names and loaded.ids == index.ids and loaded.meta.with_(files=None) == index.meta
    assert (loaded.search(vectors[:5], 3).rows == index.search(vectors[:5], 3).rows).all()
    assert [p.name for p in tmp_path.iterdir()] == ["idx"], "no temp folders or lock files left beside it"
    version = current_version(tmp_path / "idx")
    assert sorted(p.name for p in (tmp_path / "idx").iterdir()) == ["CURRENT", version.name]
    assert sorted(p.name for p in version.iterdir()) == sorted([INDEX_FILE, LABELS_FILE, META_FILE])


def test_save_replaces_existing_index_keeping_one_previous_version(tmp_path):
    save_index(make_index(n=10)[0], tmp_path / "idx")
    first = current_version(tmp_path / "idx")
    save_index(make_index(n=20)[0], tmp_path / "idx")
    second = current_version(tmp_path / "idx")
    assert len(load_index(tmp_path / "idx")) == 20 and first.is_dir()  # a reader may still be loading it
    save_index(make_index(n=30)[0], tmp_path / "idx")
    assert len(load_index(tmp_path / "idx")) == 30 and not first.exists() and second.is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["idx"]
    assert len(list((tmp_path / "idx").iterdir())) == 3  # CURRENT, the current version and the one before


def test_failed_save_leaves_nothing(tmp_path, monkeypatch):
    index, _ = make_index(n=10)
    import faiss

    def boom(*args):
        raise RuntimeError("disk full")

    monkeypatch.setattr(faiss, "serialize_index", boom)
    with pytest.raises(RuntimeError):
        save_index(index, tmp_path / "idx")
    assert list(tmp_path.iterdir()) == []


def edit_meta(d, **changes):
    (d / META_FILE).write_text(json.dumps({**json.loads((d / META_FILE).read_text()), **changes}))


@pytest.mark.parametrize("damage,needle", [
    (lambda d: (d / INDEX_FILE).write_bytes((d / INDEX_FILE).read_bytes()[:-100]), "truncated or corrupt"),
    (lambda d: (d / INDEX_FILE).write_bytes(b"garbage" * 100), "truncated or corrupt"),
    (lambda d: (d / INDEX_FILE).unlink(), "index.faiss: missing"),
    (lambda d: (d / META_FILE).write_text("{not json"), "not valid JSON"),
    (lambda d: (d / META_FILE).unlink(), "meta.json: missing"),
    (lambda d: (d / LABELS_FILE).write_text("id\tlabel\nx\ty\n"), "truncated or corrupt"),
    (lambda d: edit_meta(d, format=99), "index format 99"),
    (lambda d: edit_meta(d, dim=8), "holds 30x16 vectors, meta.json says 30x8"),
    (lambda d: edit_meta(d, files={}), "field 'files.index.faiss' is missing"),
])
def test_damaged_index_is_refused_clearly(tmp_path, damage, needle):
    save_index(make_index(n=30)[0], tmp_path / "idx")
    damage(current_version(tmp_path / "idx"))
    with pytest.raises(ZsclfError, match=needle):
        load_index(tmp_path / "idx")


def test_missing_folder(tmp_path):
    with pytest.raises(ZsclfError, match="no index there"):
        load_index(tmp_path / "nothing")


def test_all_finite_is_exact_even_when_column_sums_overflow():
    big = np.full((4, 3), 3e38, dtype=np.float32)  # finite values whose sums overflow
    assert all_finite(big) and all_finite(np.zeros((2, 2), np.float32))
    for bad in (np.nan, np.inf, -np.inf):
        v = big.copy()
        v[2, 1] = bad
        assert not all_finite(v)


def test_hnsw_round_trip_and_recall(tmp_path):
    hnsw, vectors = make_index(n=2000, dim=32, kind="hnsw")
    exact, _ = make_index(n=2000, dim=32, kind="flat")
    assert hnsw_recall(hnsw, exact) > 0.9
    save_index(hnsw, tmp_path / "h")
    loaded = load_index(tmp_path / "h")
    assert (loaded.search(vectors[:10], 1).rows[:, 0] == np.arange(10)).all()
    assert not np.isin(loaded.search(vectors[:10], 5, exclude_rows=np.arange(10)).rows, np.arange(10)).any()


def test_parent_column_in_label_files_manifests_and_index_labels(tmp_path):
    labels = tmp_path / "species.tsv"
    labels.write_text("name\tid\tparent\nAcadian flycatcher\t\tn01 \nrobin\tn02\t\n")
    ls = read_labels(labels)
    assert ls.parents == ["n01", ""] and ls.ids == ["", "n02"]
    manifest = tmp_path / "photos.tsv"
    manifest.write_text("path\tlabel\twnid\thypernym_wnid\na.jpg\tAcadian flycatcher\t\tn01\n")
    assert read_dataset(manifest)[0].parent == "n01"
    meta = meta_for(2, 4)
    index = LabelIndex.build(np.eye(2, 4, dtype=np.float32), ls.names, ls.ids, meta, parents=ls.parents)
    save_index(index, tmp_path / "idx")
    assert (current_version(tmp_path / "idx") / "labels.tsv").read_text().splitlines()[0] == "id\tlabel\tparent"
    back = load_index(tmp_path / "idx")
    assert back.parents == ["n01", ""] and back.names == ls.names and back.ids == ls.ids
    save_index(LabelIndex.build(np.eye(2, 4, dtype=np.float32), ls.names, ls.ids, meta), tmp_path / "plain")
    assert (current_version(tmp_path / "plain") / "labels.tsv").read_text().splitlines()[0] == "id\tlabel"
    assert load_index(tmp_path / "plain").parents == ["", ""]


def test_republish_keeps_vectors_and_labels_and_changes_only_the_metadata(tmp_path):
    index, _ = make_index(20, 8)
    folder = tmp_path / "idx"
    save_index(index, folder)
    first = current_version(folder)
    files = {name: (first / name).read_bytes() for name in (INDEX_FILE, LABELS_FILE)}
    republish(folder, lambda meta: meta.with_(source="changed"))
    second = current_version(folder)
    assert second != first and read_meta(folder).source == "changed"
    assert {name: (second / name).read_bytes() for name in files} == files
    assert load_index(folder).names == index.names

    def refuse(meta):
        raise ZsclfError("no")

    with pytest.raises(ZsclfError, match="no"):
        republish(folder, refuse)
    assert current_version(folder) == second
    with pytest.raises(ZsclfError, match="no index there"):
        republish(tmp_path / "missing", lambda meta: meta)
