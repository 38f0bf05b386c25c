"""Metric definitions on small hand-made cases, dataset reading, and `zsclf eval` on real photos."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import IMAGES, SHARED, needs_shared, run_cli
from zsclf.data.dataset import Sample, read_dataset
from zsclf.errors import ZsclfError
from zsclf.measure.evaluate import (
    Hierarchy,
    confusions,
    hierarchical_precision,
    hit_at_k,
    match_samples,
    mean_per_class_accuracy,
)

# A toy WordNet: animal -> {dog -> {puppy, hound}, cat -> {kitten}}, plant -> {tree}
TOY = {"entity": [], "animal": ["entity"], "plant": ["entity"], "dog": ["animal"], "cat": ["animal"],
       "puppy": ["dog"], "hound": ["dog"], "kitten": ["cat"], "tree": ["plant"]}


def test_hit_at_k():
    ranked = np.array([[3, 1, 2], [0, 2, 1], [1, 0, 3]])
    truth = np.array([3, 1, 2])
    expected = {1: 1 / 3, 2: 1 / 3, 3: 2 / 3}
    assert hit_at_k(ranked, truth, (1, 2, 3)) == pytest.approx(expected)


def test_correct_sets_grow_by_hop_radius():
    h = Hierarchy(TOY, ["puppy", "hound", "kitten", "tree", "dog", "cat"])
    assert h.correct_set("puppy", 1) == {"puppy"}
    assert h.correct_set("puppy", 2) == {"puppy", "dog"}  # radius 1: dog (hound is 2 hops away)
    assert h.correct_set("puppy", 3) == {"puppy", "dog", "hound"}  # radius 2: hound; animal is not a label
    # radius 3 adds cat; radius 4 kitten: the whole ring is included, even beyond k
    assert h.correct_set("puppy", 4) == {"puppy", "dog", "hound", "cat"}


def test_hierarchical_precision_matches_hand_computation():
    h = Hierarchy(TOY, ["puppy", "hound", "kitten", "tree", "dog", "cat"])
    top = [["dog", "tree", "hound"], ["puppy", "kitten", "cat"]]
    hp = hierarchical_precision(top, ["puppy", "kitten"], h, ks=(1, 2, 3))
    # puppy: hp@1 0 (dog is not puppy), hp@2 |{dog}|/2, hp@3 |{dog,hound}|/3
    # kitten: set@1 {kitten}; set@2 {kitten,cat}; set@3 radius 3 -> {kitten,cat,dog}
    assert hp[1] == pytest.approx((0 + 0) / 2)
    assert hp[2] == pytest.approx((1 / 2 + 1 / 2) / 2)
    assert hp[3] == pytest.approx((2 / 3 + 2 / 3) / 2)


def test_hp_at_1_equals_hit_at_1_when_labels_are_in_the_index():
    h = Hierarchy(TOY, ["puppy", "hound", "kitten"])
    top = [["puppy"], ["hound"], ["puppy"]]
    assert hierarchical_precision(top, ["puppy", "puppy", "kitten"], h, ks=(1,))[1] == pytest.approx(1 / 3)


def test_mean_per_class_accuracy_weighs_classes_equally():
    truth = np.array([0, 0, 0, 0, 1])
    top1 = np.array([0, 0, 0, 0, 0])
    assert mean_per_class_accuracy(top1, truth) == pytest.approx(0.5)  # plain accuracy would be 0.8


def test_confusions_count_pairs():
    out = confusions(np.array([1, 1, 2, 0]), np.array([0, 0, 0, 0]), ["a", "b", "c"])
    assert out[0] == {"true": "a", "predicted": "b", "count": 2}


def test_matching_by_id_then_by_name():
    samples = [Sample("x", "dog", "n1"), Sample("y", "cat", ""), Sample("z", "zebra", "n9")]
    rows, unmatched = match_samples(samples, ["n1", "n2"], ["dog", "cat"])
    assert rows == [0, 1, -1] and unmatched == {"n9": 1}  # "cat" has no id: matched by text
    rows, unmatched = match_samples(samples, ["", ""], ["dog", "cat"])
    assert rows == [0, 1, -1] and unmatched == {"n9": 1}


def test_dataset_folder_and_manifests(tmp_path):
    for label in ("owl", "fox"):
        (tmp_path / "tree" / label).mkdir(parents=True)
        (tmp_path / "tree" / label / "a.jpg").write_bytes(b"x")
    assert [(s.label, s.path.endswith("a.jpg")) for s in read_dataset(tmp_path / "tree")] == [
        ("fox", True), ("owl", True)]
    (tmp_path / "m.tsv").write_text("train/a.jpg\towl\tn1\ntest/b.jpg\tfox\tn2\n")  # headerless: path, label, id
    assert read_dataset(tmp_path / "m.tsv", only="test/") == [Sample(str(tmp_path / "test/b.jpg"), "fox", "n2")]
    (tmp_path / "h.csv").write_text("wnid,path\nn5,c.jpg\n")
    assert read_dataset(tmp_path / "h.csv") == [Sample(str(tmp_path / "c.jpg"), "n5", "n5")]
    with pytest.raises(ZsclfError, match="no labelled images"):
        read_dataset(tmp_path / "m.tsv", only="val/")


def test_eval_cli_on_a_small_manifest(default_index, tmp_path):
    manifest = tmp_path / "m.tsv"
    manifest.write_text(f"path\tlabel\twnid\n{IMAGES / 'chelsea.png'}\ttabby\tn02123045\n"
                        f"{IMAGES / 'coffee.png'}\tespresso\tn07920052\n"
                        f"{IMAGES / 'rocket.jpg'}\tquokka\tn99999999\n")
    proc = run_cli("eval", str(manifest), "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["evaluated"] == 2 and report["unmatched"] == {"n99999999": 1}
    assert report["hit"]["@20"] == 1.0 and set(report["hp"]) == {"@1", "@2", "@5", "@10", "@20"}
    assert report["cnn_softmax"]["images"] == 2
    table = run_cli("eval", str(manifest), "-q", expect=0)
    assert "hierarchical precision" in table.stdout and "not in the index" in table.stdout


@needs_shared("flowers12")
def test_eval_flowers_subset_reports_unseen_ground_truth(default_index):
    proc = run_cli("eval", str(SHARED / "flowers12" / "labels.tsv"), "--only", "test/daisy", "--json", expect=0)
    report = json.loads(proc.stdout)
    assert report["images"] == 20 and report["evaluated"] == 20
    assert report["hit"]["@5"] >= 0.5  # daisy is a seen class


def test_benchmark_cli_reports_every_stage(default_index):
    proc = run_cli("benchmark", str(IMAGES), "--limit", "5", "--batch-size", "2", "--repeats", "1",
                   "--cold-runs", "1", "--device", "cpu", "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    run = result["runs"][0]
    assert set(run["images_per_s"]) == {"decode_preprocess", "decode_preprocess_1_thread", "encoder",
                                        "projection", "search", "end_to_end"}
    assert all(v > 0 for v in run["images_per_s"].values()) and run["images"] == 5
    assert 0 < run["ratios"]["end_to_end_vs_encoder"] and run["cold_start"]["runs"] == 1
    assert run["peak_rss_mb"] > 0 and run["labels"] == 21841 and result["source"] == "given"


def test_benchmark_generates_images_when_given_none(default_index):
    proc = run_cli("benchmark", "--limit", "4", "--repeats", "1", "--cold-runs", "0", "--device", "cpu")
    assert proc.returncode == 0, proc.stderr
    assert "end_to_end" in proc.stdout and "generated images" in proc.stdout
