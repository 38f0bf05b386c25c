"""`zsclf calibrate` as a library: the whole fit on a fake classifier, storing the fit as a new index version
(index.store.republish), and the `parent` column of label files, manifests and index labels."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from test_classifier import FakeEncoder
from zsclf.data.dataset import Sample
from zsclf.errors import ZsclfError
from zsclf.index.label_index import LabelIndex
from zsclf.index.meta import IndexMeta
from zsclf.index.store import current_version, load_index, read_meta, save_index
from zsclf.learn.calibrate import calibrate, store_fit
from zsclf.models.registry import ModelRef
from zsclf.pipeline.classifier import Classifier
from zsclf.pipeline.projection import ConSE

SHADES = {"c0": (250, 10, 10), "c1": (10, 250, 10), "c2": (10, 10, 250), "x9": (120, 120, 120)}


def fake_index() -> LabelIndex:
    meta = IndexMeta(format=2, kind="flat", metric="inner_product", dim=4, count=4, space="text", template="name",
                     text_encoder=ModelRef("t", "1" * 64, 4))
    return LabelIndex.build(np.eye(4, dtype=np.float32) + 0.05, ["red", "green", "blue", "other"],
                            ["c0", "c1", "c2", "x9"], meta)


def fake_clf(index: LabelIndex) -> Classifier:
    seen = np.eye(3, 4, dtype=np.float32)
    seen[:, 3] = 0.5
    return Classifier(index, FakeEncoder(), ConSE(seen, 1), threads=1,
                      seen=(["c0", "c1", "c2"], ["red", "green", "blue"]))


@pytest.fixture
def labelled(tmp_path) -> list[Sample]:
    rng = np.random.default_rng(0)
    samples = []
    for label, rgb in SHADES.items():
        for i in range(12):
            path = tmp_path / f"{label}-{i}.png"
            noisy = np.clip(np.array(rgb) + rng.normal(0, 40, 3), 0, 255).astype(np.uint8)
            Image.new("RGB", (8, 8), tuple(int(v) for v in noisy)).save(path)
            samples.append(Sample(str(path), label, label))
    return samples


def test_calibrate_fits_stores_and_serves_hedged_answers(labelled, tmp_path):
    folder = tmp_path / "idx"
    save_index(fake_index(), folder)
    clf = fake_clf(load_index(folder))
    model, report = calibrate(clf, labelled, "fake photos", batch_size=8)
    assert model.photos == {"seen": 36, "unseen": 12, "skipped": 0}
    assert model.fitted_for.projection == "conse top-t 1" and model.fitted_for.labels == 4
    assert model.cnn_temperature > 0 and model.index_temperature > 0 and model.top_k == 200
    assert model.darts_lambda.value == sorted(model.darts_lambda.value)
    assert report["stacking"] is not None and model.stacking["picked_on_photos"] == 24
    before = current_version(folder)
    store_fit(folder, model)
    assert current_version(folder) != before  # a new version...
    loaded = load_index(folder)  # ...with the same labels and vectors
    assert loaded.names == clf.index.names and np.allclose(loaded.vectors(), clf.index.vectors())
    assert read_meta(folder).hedging == model
    served = fake_clf(loaded)
    served.enable_hedging(0.9)
    results = list(served.predict_paths([s.path for s in labelled[::6]], top_k=2))
    assert all(r.hedged is not None and 0 <= r.hedged.probability <= 1 for r in results)
    assert {r.hedged.label for r in results} <= {"red", "green", "blue", "other"}  # no WordNet above these labels


def test_a_given_seen_penalty_is_recorded_not_picked(labelled):
    model, report = calibrate(fake_clf(fake_index()), labelled, batch_size=16, seen_penalty=0.0)
    assert model.seen_penalty == 0.0 and model.stacking["picked_on_photos"] == 0
    assert model.stacking["reported_on_seen_photos"] + model.stacking["reported_on_unseen_photos"] == 24


def test_calibrate_needs_seen_and_unseen_photos(labelled):
    clf = fake_clf(fake_index())
    with pytest.raises(ZsclfError, match="needs photos of the CNN's own classes and of other classes"):
        calibrate(clf, [s for s in labelled if s.id != "x9"])


def test_a_fit_is_not_stored_into_a_rebuilt_index(labelled, tmp_path):
    folder = tmp_path / "idx"
    save_index(fake_index(), folder)
    model, _ = calibrate(fake_clf(load_index(folder)), labelled, batch_size=16)
    rebuilt = fake_index()
    rebuilt.names[3] = "something else"
    save_index(rebuilt, folder)
    before = current_version(folder)
    with pytest.raises(ZsclfError, match="rebuilt while calibrating"):
        store_fit(folder, model)
    assert current_version(folder) == before and read_meta(folder).hedging is None
