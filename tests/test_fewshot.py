"""DeViSE training, photo-taught labels, the visual space and calibration, on real photos."""

from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pytest

from conftest import IMAGES, SHARED, needs_shared, run_cli
from zsclf.errors import ZsclfError
from zsclf.index.store import current_version
from zsclf.learn.calibration import calibrate
from zsclf.learn.examples import read_examples
from zsclf.learn.train import TrainConfig, rank_loss_and_grad, ridge, stratified_split, train_devise
from zsclf.models.registry import ModelRef
from zsclf.pipeline.projection_file import ProjectionMeta, load_projection, save_projection

FLOWERS = SHARED / "flowers12"


def flowers_manifest(tmp_path, split: str, per_class: int | None = None, classes: int | None = None) -> str:
    """A manifest (path, label, wnid) of one split of flowers12, read in place."""
    rows, seen = [], {}
    for line in (FLOWERS / "labels.tsv").read_text().splitlines():
        path, label, wnid = line.split("\t")
        if not path.startswith(split + "/"):
            continue
        seen.setdefault(label, 0)
        if (classes and label not in list(seen)[:classes]) or (per_class and seen[label] >= per_class):
            continue
        seen[label] += 1
        rows.append(f"{FLOWERS / path}\t{label}\t{wnid}")
    out = tmp_path / f"{split}.tsv"
    out.write_text("path\tlabel\twnid\n" + "\n".join(rows) + "\n")
    return str(out)


def test_rank_loss_gradient_matches_finite_differences():
    rng = np.random.default_rng(0)
    m = rng.standard_normal((4, 6)).astype(np.float64)
    x = rng.standard_normal((3, 6))
    t = rng.standard_normal((5, 4))
    y = np.array([0, 2, 4])
    negs = np.array([[1, 2, 3], [0, 1, 3], [0, 2, 3]])
    _, grad = rank_loss_and_grad(m, x, y, t, 5.0, negs)  # a wide margin keeps every pair active
    eps, numeric = 1e-5, np.zeros_like(m)
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            d = np.zeros_like(m)
            d[i, j] = eps
            numeric[i, j] = (rank_loss_and_grad(m + d, x, y, t, 5.0, negs)[0]
                             - rank_loss_and_grad(m - d, x, y, t, 5.0, negs)[0]) / (2 * eps)
    assert np.allclose(grad, numeric, atol=1e-3)


def test_ridge_recovers_a_linear_map():
    rng = np.random.default_rng(1)
    true = rng.standard_normal((3, 8)).astype(np.float32)
    x = rng.standard_normal((200, 8)).astype(np.float32)
    assert np.allclose(ridge(x, x @ true.T, alpha=1e-6), true, atol=1e-3)


def test_stratified_split_holds_out_each_class():
    labels = np.array([0] * 10 + [1] * 5 + [2])
    train, val = stratified_split(labels, 0.2, seed=0)
    assert sorted(np.concatenate([train, val])) == list(range(16))
    assert list(np.bincount(labels[val], minlength=3)) == [2, 1, 0]


def test_calibration_standardises_scores_against_the_reference():
    rng = np.random.default_rng(2)
    vectors = rng.standard_normal((3, 5)).astype(np.float32)
    reference = rng.standard_normal((50, 5)).astype(np.float32)
    calibrated, info = calibrate(vectors, reference)
    ref = reference / np.linalg.norm(reference, axis=1, keepdims=True)
    scores = np.hstack([ref, np.ones((50, 1), np.float32)]) @ calibrated.T
    assert np.allclose(scores.mean(0), 0, atol=1e-4) and np.allclose(scores.std(0), 1, atol=1e-3)
    assert info.reference_queries == 50


def test_projection_file_round_trip_and_refusals(tmp_path):
    meta = ProjectionMeta(kind="devise", space="text", template="gloss", image_encoder=ModelRef("x", "a" * 64),
                          text_encoder=ModelRef("t", "b" * 64, 3))
    path = save_projection(tmp_path / "p.npz", np.eye(3, 4, dtype=np.float32), meta)
    loaded = load_projection(path)
    assert np.array_equal(loaded.matrix, np.eye(3, 4)) and loaded.meta == meta
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(ZsclfError, match="not a zsclf projection"):
        load_projection(tmp_path / "junk.npz")
    with pytest.raises(ZsclfError, match="cannot read projection: no such file"):
        load_projection(tmp_path / "missing.npz")


def test_training_on_synthetic_clusters_learns_the_labels():
    rng = np.random.default_rng(3)
    centres = rng.standard_normal((6, 32)).astype(np.float32)
    labels = np.repeat(np.arange(6), 20)
    features = centres[labels] + 0.3 * rng.standard_normal((120, 32)).astype(np.float32)
    embeddings = rng.standard_normal((6, 8)).astype(np.float32)
    config = TrainConfig(epochs=30, patience=30)
    result = train_devise(features, labels, embeddings, config)
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    assert result.val_hit["@1"] > 0.9


def test_examples_are_chosen_reproducibly(tmp_path):
    for label in ("cat", "cup"):
        (tmp_path / label).mkdir()
        for i in range(6):
            shutil.copy(IMAGES / ("chelsea.png" if label == "cat" else "coffee.png"), tmp_path / label / f"{i}.png")
    a, b = read_examples(tmp_path, shots=2), read_examples(tmp_path, shots=2)
    assert a.paths == b.paths and [len(p) for p in a.paths] == [2, 2] and a.names == ["cat", "cup"]
    assert read_examples(tmp_path).count == 12


def test_photo_taught_and_text_labels_in_one_index(default_index, tmp_path):
    examples = tmp_path / "examples"
    for label, photo in (("my cat", "chelsea.png"), ("my mug", "coffee.png")):
        (examples / label).mkdir(parents=True)
        shutil.copy(IMAGES / photo, examples / label / photo)
    labels = tmp_path / "labels.txt"
    labels.write_text("rocket\nsailboat\nmilitary uniform\n")
    out = tmp_path / "mixed"
    proc = run_cli("build-index", str(labels), "--examples", str(examples), "-o", str(out), "-q")
    assert proc.returncode == 0, proc.stderr
    meta = json.loads((current_version(out) / "meta.json").read_text())
    assert meta["space"] == "visual" and meta["calibration"]["method"] == "per-label z-score"
    assert meta["count"] == 5 and meta["photos"] == {"labels": 2, "photos": 2, "replaced_text_labels": 0,
                                                     "projection": "visual"}
    proc = run_cli("predict", "--index", str(out), "-k", "1", *(str(IMAGES / p) for p in
                   ("chelsea.png", "coffee.png", "rocket.jpg", "grace_hopper.jpg")))
    assert proc.returncode == 0, proc.stderr
    top = [json.loads(line)["predictions"][0]["label"] for line in proc.stdout.splitlines()]
    assert top == ["my cat", "my mug", "rocket", "military uniform"]
    refused = run_cli("predict", "--index", str(out), "--projection", str(tmp_path / "p.npz"),
                      str(IMAGES / "chelsea.png"))
    assert refused.returncode == 2 and "takes no --projection" in refused.stderr


@needs_shared("flowers12")
def test_five_photos_per_species_beat_zero_shot(models_ready, tmp_path):
    out = tmp_path / "flowers5"
    proc = run_cli("build-index", "--examples", flowers_manifest(tmp_path, "train"), "--shots", "5",
                   "-o", str(out), "-q")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(run_cli("eval", flowers_manifest(tmp_path, "test"), "--index", str(out), "--json",
                                expect=0).stdout)
    assert report["evaluated"] == 240 and report["hit"]["@1"] >= 0.8  # chance is 1/12


@needs_shared("flowers12")
def test_train_reduces_loss_beats_chance_and_projection_is_checked(default_index, tmp_path):
    data = flowers_manifest(tmp_path, "train", per_class=15, classes=4)
    out = tmp_path / "devise.npz"
    proc = run_cli("train", data, "-o", str(out), "--epochs", "40", "-q")
    assert proc.returncode == 0, proc.stderr
    meta = load_projection(out).meta
    losses = [h["train_loss"] for h in meta.history]
    assert losses[-1] < losses[0]
    assert meta.validation["@1"] > 0.25  # 4 classes: chance is 0.25
    assert meta.trained_on["labels"] == 4 and meta.template == "gloss"
    ok = run_cli("predict", "--projection", str(out), str(IMAGES / "chelsea.png"))
    assert ok.returncode == 0, ok.stderr
    # an index with another template is refused, clearly
    labels = tmp_path / "l.txt"
    labels.write_text("bluebell\nbuttercup\n")
    run_cli("build-index", str(labels), "--template", "name", "-o", str(tmp_path / "names"), "-q", "--label-prior",
            "off", expect=0)
    refused = run_cli("predict", "--index", str(tmp_path / "names"), "--projection", str(out),
                      str(IMAGES / "chelsea.png"))
    assert refused.returncode == 2 and "template" in refused.stderr
    # a label-prior corrected index was corrected for ConSE queries: it says how to use a projection instead
    run_cli("build-index", str(labels), "-o", str(tmp_path / "corrected"), "-q", expect=0)
    refused = run_cli("predict", "--index", str(tmp_path / "corrected"), "--projection", str(out),
                      str(IMAGES / "chelsea.png"), expect=2)
    assert "--label-prior off" in refused.stderr
    # a projection for another image encoder is refused
    bad = load_projection(out)
    wrong = dataclasses.replace(bad.meta, image_encoder=ModelRef(bad.meta.image_encoder.name, "0" * 64))
    save_projection(tmp_path / "bad.npz", bad.matrix, wrong)
    refused = run_cli("predict", "--projection", str(tmp_path / "bad.npz"), str(IMAGES / "chelsea.png"))
    assert refused.returncode == 2 and "image encoder" in refused.stderr
