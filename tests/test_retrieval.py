"""Retrieval metrics (Karpathy & Fei-Fei's protocol, by hand), the pairs file, and `zsclf eval-retrieval` on
real photos and captions (COCO, skipped without the shared data)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import IMAGES, SHARED, needs_shared, run_cli
from zsclf.data.pairs import read_pairs
from zsclf.errors import ZsclfError
from zsclf.measure.retrieval import (
    image_to_text_ranks,
    ranks_summary,
    recall_at,
    retrieval_report,
    text_to_image_ranks,
)

# 3 photos, 5 sentences: 0,1 -> photo 0; 2,3 -> photo 1; 4 -> photo 2
IMAGE_OF = np.array([0, 0, 1, 1, 2])
SIM = np.array([
    [0.9, 0.1, 0.8, 0.2, 0.3],  # photo 0: its best sentence s0 (0.9) is first -> rank 1
    [0.7, 0.6, 0.5, 0.4, 0.3],  # photo 1: own s2 (0.5); above it s0, s1 -> rank 3
    [0.9, 0.8, 0.7, 0.6, 0.1],  # photo 2: own s4 (0.1) is last -> rank 5
])


def test_ranks_by_hand():
    assert image_to_text_ranks(SIM, IMAGE_OF).tolist() == [1, 3, 5]
    # columns: s0 own 0 (tie at 0.9 counts in its favour) -> 1; s1 -> 3; s2 -> 3; s3 -> 2; s4 -> 3
    assert text_to_image_ranks(SIM, IMAGE_OF).tolist() == [1, 3, 3, 2, 3]


def test_recall_median_and_report():
    assert recall_at(np.array([1, 3, 5, 2]), 3) == 0.75
    assert ranks_summary(np.array([1, 3, 5, 2]))["median_rank"] == 2.5
    r = retrieval_report(SIM, IMAGE_OF, ks=(1, 5))
    assert r["image_to_text"]["R@1"] == pytest.approx(1 / 3) and r["image_to_text"]["median_rank"] == 3.0
    assert r["text_to_image"]["R@1"] == pytest.approx(1 / 5) and r["text_to_image"]["queries"] == 5
    ci = np.repeat(np.arange(4), 5)
    perfect = (ci[None, :] == np.arange(4)[:, None]).astype(float)
    worst = retrieval_report(-perfect, ci)
    assert worst["text_to_image"]["median_rank"] == 4.0 and worst["image_to_text"]["median_rank"] == 16.0
    with pytest.raises(ValueError):
        retrieval_report(SIM, IMAGE_OF[:4])


def test_a_photo_without_sentences_is_left_out_and_t2i_can_score_differently():
    ci = np.array([0, 0, 2])
    sim = np.eye(3)[:, [0, 0, 2]]
    assert image_to_text_ranks(sim, ci).tolist() == [1, 0, 1]
    r = retrieval_report(sim, ci, sim_t2i=-sim)
    assert r["image_to_text"]["R@1"] == 1.0 and r["text_to_image"]["R@1"] == 0.0


def test_pairs_files(tmp_path):
    good = tmp_path / "pairs.tsv"
    good.write_text("image_path\tcaption_id\tcaption\na.jpg\t1\ta cat\nb.jpg\t2\ta rocket\na.jpg\t3\ta grey cat\n")
    pairs = read_pairs(good)
    assert pairs.images == [str(tmp_path / "a.jpg"), str(tmp_path / "b.jpg")] and pairs.image_of == [0, 1, 0]
    assert pairs.subset([1]).sentences == ["a rocket"]
    for text, message in (("path\tlabel\na.jpg\tcat\n", "sentence column"), ("image\tsentence\na.jpg\t\n", ":2:"),
                          ("image\tsentence\na.jpg\tx\n", "at least 2 images")):
        bad = tmp_path / "bad.tsv"
        bad.write_text(text)
        with pytest.raises(ZsclfError, match=message):
            read_pairs(bad)


def test_eval_retrieval_on_committed_photos(models_ready, tmp_path):
    pairs = tmp_path / "pairs.tsv"
    rows = [("chelsea.png", "a tabby cat lying down"), ("coffee.png", "a cup of coffee on a saucer"),
            ("rocket.jpg", "a rocket lifting off from the launch pad"), ("flower.jpg", "a pink flower")]
    pairs.write_text("image\tcaption\n" + "".join(f"{IMAGES / p}\t{c}\n" for p, c in rows))
    report = json.loads(run_cli("eval-retrieval", str(pairs), "--json", expect=0).stdout)
    assert report["photos"] == 4 and report["sentences"] == 4 and report["failed"] == 0
    assert report["image_to_text"]["R@1"] >= 0.75 and report["text_to_image"]["R@1"] >= 0.75
    assert "ConSE" in report["projection"] and "all-minilm-l6-v2" in report["space"]
    table = run_cli("eval-retrieval", str(pairs), "-q", "--hubness", "csls", expect=0).stdout
    assert "photo → sentence" in table and "median rank" in table and "CSLS (k=10)" in table
    bad = run_cli("eval-retrieval", str(pairs), "--hubness", "bogus", expect=2)
    assert bad.stderr.startswith("zsclf: error: --hubness must be one of inverted-softmax, csls, none")


@needs_shared("coco-captions")
def test_eval_retrieval_on_coco_captions_matches_the_measured_baseline(models_ready):
    report = json.loads(run_cli("eval-retrieval", str(SHARED / "coco-captions" / "pairs.tsv"), "--json",
                                expect=0).stdout)
    assert (report["photos"], report["sentences"]) == (159, 795)
    # the chosen defaults reach the target (0.30 both ways); the classifier's ConSE does not
    assert report["image_to_text"]["R@1"] >= 0.30 and report["text_to_image"]["R@1"] >= 0.30
    assert report["baseline"]["image_to_text"]["R@1"] < report["image_to_text"]["R@1"]
    assert report["baseline"]["text_to_image"]["R@1"] < report["text_to_image"]["R@1"]


@needs_shared("coco-captions")
def test_train_pairs_writes_a_map_that_eval_photos_and_predict_use(models_ready, tmp_path):
    coco = SHARED / "coco-captions"
    pairs = tmp_path / "pairs.tsv"  # 40 photos, their captions (paths made absolute)
    lines = (coco / "pairs.tsv").read_text().splitlines()
    photos = sorted({line.split("\t")[0] for line in lines[1:]})[:40]
    pairs.write_text("image_path\tcaption_id\tcaption\n" + "".join(
        f"{coco / line.split(chr(9))[0]}\t{line.split(chr(9), 1)[1]}\n" for line in lines[1:]
        if line.split("\t")[0] in photos))
    out = tmp_path / "map.npz"
    proc = run_cli("train", "--pairs", str(pairs), "-o", str(out), "--epochs", "3", "-q", expect=0)
    assert "best epoch" in proc.stderr and out.exists()
    from zsclf.pipeline.projection import ResidualConSE
    from zsclf.pipeline.projection_file import load_projection

    projection = load_projection(out)
    assert isinstance(projection, ResidualConSE) and projection.meta.kind == "pairs" and projection.dim == 384
    report = json.loads(run_cli("eval-retrieval", str(pairs), "--projection", str(out), "--json", expect=0).stdout)
    assert report["projection"] == f"learned map {out}" and report["image_to_text"]["R@10"] > 0.3
    run_cli("photos", str(IMAGES), "--db", str(tmp_path / "c.db"), "--projection", str(out), "-q", expect=0)
    found = json.loads(run_cli("search", "a rocket", "--db", str(tmp_path / "c.db"), "-k", "1", expect=0).stdout)
    assert found["results"][0]["path"].endswith("rocket.jpg")
    run_cli("train", str(pairs), "--pairs", str(pairs), "-o", str(out), expect=2)  # one kind of data at a time
