"""The label hierarchy for hedged answers (pipeline.hierarchy) and its on-disk cache (pipeline.taxonomy), on
tiny hand-checked DAGs."""

from __future__ import annotations

import numpy as np
import pytest

from zsclf.index.label_index import LabelIndex
from zsclf.index.meta import IndexMeta
from zsclf.models.registry import ModelRef
from zsclf.pipeline.hierarchy import Hierarchy, ancestor_closure
from zsclf.pipeline.taxonomy import build_taxonomy, load_taxonomy, save_taxonomy, taxonomy_for

# entity -> animal -> bird -> {finch, warbler}; animal -> dog; entity -> pet -> canary;
# canary is also a finch (two parents: a DAG)
HYP = {
    "entity": [], "animal": ["entity"], "pet": ["entity"], "bird": ["animal"], "dog": ["animal"],
    "finch": ["bird"], "warbler": ["bird"], "canary": ["finch", "pet"],
}
LABELS = ["bird", "finch", "warbler", "dog", "canary", "", "mystery"]  # "" and "mystery": not synsets
PARENTS = ["", "", "", "", "", "warbler", ""]  # the blank label is a kind of warbler


@pytest.fixture
def h():
    return Hierarchy.build(LABELS, HYP, PARENTS)


def test_closure():
    assert ancestor_closure("canary", HYP) == {"canary", "finch", "pet", "bird", "animal", "entity"}
    assert ancestor_closure("unknown", HYP) == {"unknown"}


def test_nodes_counts_depths_and_gain(h):
    under = {n: int(h.under[i]) for i, n in enumerate(h.nodes)}
    assert h.n_labels == 7
    assert under["entity"] == 6  # every WordNet-rooted label; "mystery" stands alone
    assert under["bird"] == 5  # bird, finch, warbler, canary, the blank warbler
    assert under["finch"] == 2 and under["warbler"] == 2 and under["pet"] == 1
    assert under["#6"] == 1 and under["#5"] == 1
    assert h.nodes[h.label_node[5]] == "#5" and h.nodes[h.label_node[6]] == "#6"
    gain = h.info_gain
    assert gain[h.node_id("entity")] == pytest.approx(np.log2(7) - np.log2(6))
    assert gain[h.node_id("canary")] == pytest.approx(np.log2(7))
    assert h.depth[h.node_id("entity")] == 0 and h.depth[h.node_id("canary")] == 2  # via pet
    assert h.depth[h.label_node[5]] == h.depth[h.node_id("warbler")] + 1
    assert h.depth[h.label_node[6]] == 0  # stands for itself
    assert h.node_label[h.node_id("bird")] == 0 and h.node_label[h.node_id("animal")] == -1


def test_node_mass_counts_a_label_once_on_every_path(h):
    p = np.array([[0.0, 0.1, 0.2, 0.1, 0.4, 0.15, 0.05]])
    m = h.node_mass(p)[0]
    assert m[h.node_id("entity")] == pytest.approx(0.95)
    assert m[h.node_id("bird")] == pytest.approx(0.85)  # canary counted once, though two paths lead up
    assert m[h.node_id("finch")] == pytest.approx(0.5)
    assert m[h.node_id("warbler")] == pytest.approx(0.35)
    assert m[h.node_id("pet")] == pytest.approx(0.4)
    assert m[h.node_id("#6")] == pytest.approx(0.05)


def test_node_mass_of_top_k_rows_and_pruning(h):
    probs = np.array([[0.6, 0.3, 0.1], [0.5, 0.5, 0.0]])
    rows = np.array([[4, 2, -1], [3, 6, 0]])
    m = h.node_mass(probs, rows)
    assert m[0, h.node_id("bird")] == pytest.approx(0.9)
    assert m[0, h.node_id("entity")] == pytest.approx(0.9)  # row -1 ignored
    assert m[1, h.node_id("animal")] == pytest.approx(0.5)
    pruned = h.node_mass(np.array([[0.6, 0.3, 0.1]]), np.array([[4, 2, 1]]), min_prob=0.2)
    assert pruned[0, h.node_id("finch")] == pytest.approx(0.6)


def test_truths_and_right_answers(h):
    hyp = dict(HYP, goldcrest=["warbler"])  # a synset no label stands for
    assert h.nodes[h.truth_node("goldcrest", hyp)] == "warbler"
    assert h.truth_node("finch", hyp) == h.node_id("finch")
    rows = np.array([[4, 2, 3], [0, 1, -1]])
    nodes = np.array([h.node_id("finch"), h.node_id("bird")])
    assert h.under_node(rows, nodes).tolist() == [[True, False, False], [True, True, False]]
    named = lambda ids: {h.nodes[i] for i in ids}  # noqa: E731
    assert named(h.correct_nodes("canary", hyp)) == {"canary", "finch", "pet", "bird", "animal", "entity"}
    assert named(h.correct_nodes("goldcrest", hyp)) == {"warbler", "bird", "animal", "entity"}
    assert named(h.correct_nodes("#5", hyp)) == {"#5", "warbler", "bird", "animal", "entity"}
    assert named(h.correct_nodes("#6", hyp)) == {"#6"}
    assert named(h.node_ancestors(h.node_id("animal"), hyp)) == {"animal", "entity"}


def tiny_index(ids, names, parents=None) -> LabelIndex:
    meta = IndexMeta(format=2, kind="flat", metric="inner_product", dim=4, count=len(ids), space="text",
                     template="name", text_encoder=ModelRef("t", "1" * 64, 4))
    return LabelIndex.build(np.eye(len(ids), 4, dtype=np.float32) + 0.1, names, ids, meta, parents=parents)


def test_taxonomy_names_ids_and_missing_cnn_classes():
    index = tiny_index(["finch", "dog", "x1"], ["Finch", "Dog", "Blank warbler"], ["", "", "warbler"])
    class_rows = np.array([0, -1])  # the CNN's classes: finch (in the index) and canary (missing)
    t = build_taxonomy(index, class_rows, ["finch", "canary"], ["finch", "canary bird"], HYP,
                       {"entity": "entity", "bird": "bird (animal)", "warbler": "warbler"})
    h = t.hierarchy
    assert h.n_labels == 4 and t.class_label.tolist() == [0, 3]  # canary appended as label row 3
    name = dict(zip(h.nodes, t.names, strict=True))
    ident = dict(zip(h.nodes, t.ids, strict=True))
    assert name["finch"] == "Finch" and name["canary"] == "canary bird" and name["bird"] == "bird (animal)"
    assert name["animal"] == "animal"  # no display name: the WNID itself
    assert name["#2"] == "Blank warbler" and ident["#2"] == "x1" and ident["bird"] == "bird"
    m = h.node_mass(np.array([[0.5, 0.5]]), t.class_label[None, :])[0]  # CNN mass flows up from the missing class
    assert m[h.node_id("pet")] == pytest.approx(0.5) and m[h.node_id("bird")] == pytest.approx(1.0)


def test_taxonomy_cache_roundtrip_and_damage(tmp_path, monkeypatch):
    index = tiny_index(["finch", "dog"], ["Finch", "Dog"])
    t = build_taxonomy(index, np.array([0, 1]), ["finch", "dog"], ["finch", "dog"], HYP, {})
    path = tmp_path / "h.npz"
    save_taxonomy(t, path)
    back = load_taxonomy(path, 2, 2)
    assert back is not None
    assert (list(back.names), list(back.ids), list(back.hierarchy.nodes)) == (t.names, t.ids, t.hierarchy.nodes)
    assert back.names[-1] == t.names[-1] and back.names[1:3] == t.names[1:3]
    for name in ("label_node", "indptr", "indices", "under", "depth", "node_label"):
        assert (getattr(back.hierarchy, name) == getattr(t.hierarchy, name)).all()
    assert load_taxonomy(path, 2, 3) is None  # another CNN: does not fit
    path.write_bytes(path.read_bytes()[:100])
    assert load_taxonomy(path, 2, 2) is None  # damaged
    # taxonomy_for rebuilds a damaged cache file and writes a good one
    monkeypatch.setenv("ZSCLF_LABELS", str(tmp_path / "labels"))
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "wordnet_hypernyms.tsv").write_text(
        "wnid\tparents\n" + "".join(f"{k}\t{' '.join(v)}\n" for k, v in HYP.items()))
    calls = []

    def classes():
        calls.append(1)
        return np.array([0, 1]), ["finch", "dog"], ["finch", "dog"]

    first = taxonomy_for(index, classes, "k", 2, cache=tmp_path / "cache")
    (cache_file,) = (tmp_path / "cache").glob("hierarchy-*.npz")
    cache_file.write_bytes(b"garbage")
    again = taxonomy_for(index, classes, "k", 2, cache=tmp_path / "cache")
    assert len(calls) == 2 and list(again.names) == list(first.names)
    taxonomy_for(index, classes, "k", 2, cache=tmp_path / "cache")
    assert len(calls) == 2  # cached now
    taxonomy_for(index, classes, "other CNN", 2, cache=tmp_path / "cache")
    assert len(calls) == 3  # another key
