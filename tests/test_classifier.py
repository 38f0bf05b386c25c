"""The Classifier in-process, with a fake image encoder and a real FAISS index: order, per-input errors,
min_score, exclude_seen and the seen gate (no models needed)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from zsclf.errors import ZsclfError
from zsclf.index.label_index import LabelIndex
from zsclf.index.meta import IndexMeta
from zsclf.models.registry import ModelRef, Preprocess
from zsclf.pipeline.classifier import Classifier, ClassifierConfig
from zsclf.pipeline.projection import ConSE

COLOURS = {"red": (250, 10, 10), "green": (10, 250, 10), "blue": (10, 10, 250)}


class FakeEncoder:
    """'Recognises' three colours: the logits are the image's mean R, G, B (scaled)."""

    device, threads, name, feature_dim, num_classes, max_batch = "cpu", 1, "fake", 3, 3, None
    preprocess = Preprocess(size=8, crop_fraction=1.0)
    ref = ModelRef("fake", "0" * 64, 3)

    def __init__(self) -> None:
        self.batches: list[int] = []

    def encode(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self.batches.append(len(batch))
        mean = batch.reshape(len(batch), -1, 3).astype(np.float32).mean(axis=1)
        return mean, mean / 20.0


def fake_classifier(top_t: int = 1, seen_gate: float | None = None) -> tuple[Classifier, FakeEncoder]:
    names, ids = ["red", "green", "blue", "other"], ["c0", "c1", "c2", "x9"]
    meta = IndexMeta(format=1, kind="flat", metric="inner_product", dim=4, count=4, space="text", template="name",
                     text_encoder=ModelRef("t", "1" * 64, 4))
    index = LabelIndex.build(np.eye(4, dtype=np.float32), names, ids, meta)
    seen = np.eye(3, 4, dtype=np.float32)  # the CNN's classes 0-2 are labels c0-c2
    seen[:, 3] = 0.5  # ...and all a little like "other"
    encoder = FakeEncoder()
    clf = Classifier(index, encoder, ConSE(seen, top_t), threads=2, seen_gate=seen_gate,
                     seen=(["c0", "c1", "c2"], ["red", "green", "blue"]))
    return clf, encoder


@pytest.fixture
def photos(tmp_path):
    paths = {}
    for name, rgb in COLOURS.items():
        paths[name] = tmp_path / f"{name}.png"
        Image.new("RGB", (20, 12), rgb).save(paths[name])
    paths["broken"] = tmp_path / "broken.jpg"
    paths["broken"].write_bytes(b"not a jpeg at all")
    paths["missing"] = tmp_path / "missing.png"
    return {k: str(v) for k, v in paths.items()}


def test_results_keep_input_order_and_report_each_bad_input(photos):
    clf, encoder = fake_classifier()
    order = ["red", "broken", "green", "missing", "blue", "red"]
    results = list(clf.predict_paths([photos[k] for k in order], top_k=2, batch_size=2))
    assert [r.path for r in results] == [photos[k] for k in order]
    assert [r.predictions[0].label if r.predictions else None for r in results] == \
        ["red", None, "green", None, "blue", "red"]
    assert "not an image" in results[1].error and "no such file" in results[3].error
    assert sum(encoder.batches) == 4 and max(encoder.batches) <= 2  # bad inputs never reach the encoder


def test_min_score_drops_weak_labels(photos):
    clf, _ = fake_classifier()
    (result,) = clf.predict_paths([photos["green"]], top_k=4)
    labels = [p.label for p in result.predictions]
    assert labels[:2] == ["green", "other"] and set(labels[2:]) == {"red", "blue"}  # red and blue tie at 0
    (result,) = clf.predict_paths([photos["green"]], top_k=4, min_score=0.5)
    assert [p.label for p in result.predictions] == ["green"]
    with pytest.raises(ZsclfError, match="--min-score"):
        list(clf.predict_paths([photos["green"]], min_score=float("nan")))


def test_exclude_seen_never_answers_a_cnn_class(photos):
    clf, _ = fake_classifier()
    for result in clf.predict_paths([photos[k] for k in COLOURS], top_k=3, exclude_seen=True):
        assert [p.label for p in result.predictions] == ["other"]


def test_seen_gate_answers_confident_images_with_the_cnn_probabilities(photos):
    clf, _ = fake_classifier(top_t=3, seen_gate=0.9)
    (gated,) = clf.predict_paths([photos["blue"]], top_k=3, min_score=0.99)
    assert [p.label for p in gated.predictions] == ["blue", "red", "green"]  # min_score does not apply
    assert gated.predictions[0].score > 0.9 and sum(p.score for p in gated.predictions) <= 1.0 + 1e-6
    clf.seen_gate = 1.0  # never reached: the projection's cosine answers
    (plain,) = clf.predict_paths([photos["blue"]], top_k=3)
    assert plain.predictions[0].label == "blue" and plain.predictions[1].label == "other"


def test_images_in_memory_follow_the_same_rules(photos):
    clf, _ = fake_classifier(top_t=3, seen_gate=0.9)
    images = [Image.open(photos[k]) for k in COLOURS]
    in_memory = clf.predict_images(images, top_k=2, min_score=0.5)
    from_files = [r.predictions for r in clf.predict_paths([photos[k] for k in COLOURS], top_k=2, min_score=0.5)]
    assert in_memory == from_files


def test_configuration_is_checked():
    with pytest.raises(ZsclfError, match="--seen-gate"):
        ClassifierConfig(seen_gate=float("nan"))
    with pytest.raises(ZsclfError, match="--top-t"):
        ClassifierConfig(top_t=0)
