"""The issue's targets on held-out photos with the shipped defaults (labels/hedging-imagenet21k.json was fitted
on imagenet-sample half a, birds50 train/ and flowers12 train/; these photos are half b and the test/ folders).

The photos are encoded once for the module (~2,240 images: about half a minute here), then run through the
same measures as `zsclf eval --hedge` (measure.hedged_eval, measure.gzsl).
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

from conftest import ROOT, SHARED, needs_shared
from zsclf.data.dataset import read_dataset
from zsclf.data.labels import read_hypernyms
from zsclf.index.store import read_meta
from zsclf.measure.evaluate import match_samples
from zsclf.measure.gzsl import GzslCollector
from zsclf.measure.hedged_eval import HedgeCollector
from zsclf.pipeline.classifier import Classifier
from zsclf.pipeline.encoding import EncodedBatch

sys.path.insert(0, str(ROOT / "tools"))
from report.splits import manifest  # noqa: E402

pytestmark = [needs_shared("imagenet-sample"), needs_shared("birds50"), needs_shared("flowers12")]
CHUNK = 256


@pytest.fixture(scope="module")
def heldout(default_index, tmp_path_factory):
    if read_meta(default_index).hedging is not None:
        pytest.skip("the default index carries a fit of its own; these targets are for the shipped defaults")
    path = tmp_path_factory.mktemp("splits") / "heldout.tsv"
    path.write_text(manifest(SHARED, "heldout"), encoding="utf-8")
    samples = read_dataset(path)
    clf = Classifier.load(device="cpu")
    logits, queries = [], []
    for out in clf.stream([s.path for s in samples], 32):
        assert out.ok == list(range(len(out.paths))), out.errors
        logits.append(out.logits)
        queries.append(out.queries)
    return clf, samples, np.concatenate(logits), np.concatenate(queries)


def run(collector, heldout, keep):
    """Feed the photos at positions `keep` (the collector's samples, in order) in chunks, as eval does."""
    _, samples, logits, queries = heldout
    for start in range(0, len(keep), CHUNK):
        at = keep[start:start + CHUNK]
        collector.add(np.arange(len(at)) + start, EncodedBatch([samples[i].path for i in at], [None] * len(at), None,
                                                              logits[at], queries[at]))
    return collector.report()


def hedged(heldout, prefix: str, p: float = 0.9) -> dict:
    clf, samples, _, _ = heldout
    keep = np.array([i for i, s in enumerate(samples) if f"/{prefix}" in s.path])
    subset = [samples[i] for i in keep]
    report = run(HedgeCollector(clf, subset, [p], "darts", read_hypernyms()), heldout, keep)
    return report["hedge"]["targets"][0]


def test_imagenet_half_b_at_hedge_0_9(heldout):
    m = hedged(heldout, "imagenet-sample/")["all"]
    assert m["photos"] == 500
    assert m["accuracy"] >= 0.90 and m["exact"] >= 0.60, m  # measured: 0.952, 0.698


def test_unseen_birds_test_at_hedge_0_9(heldout):
    m = hedged(heldout, "birds50/")["unseen"]
    assert m["photos"] == 1470 and m["common_ancestor"]["label"] == "bird"
    assert m["accuracy"] >= 0.85 and m["common_ancestor"]["correct_at_or_below"] >= 0.60, m  # 0.902, 0.867


def test_flowers_test_is_reported_not_promised(heldout):
    m = hedged(heldout, "flowers12/")
    assert m["unseen"]["photos"] == 220 and 0.5 < m["unseen"]["accuracy"] < 1.0  # measured: 0.695 (see FINDINGS)
    assert m["seen"]["accuracy"] == 1.0  # daisies


def test_novelty_auroc_of_the_energy_beats_max_softmax(heldout):
    clf, samples, _, _ = heldout
    rows, _ = match_samples(samples, clf.index.ids, clf.index.names)
    report = run(GzslCollector(clf, samples, rows, False), heldout, np.arange(len(samples)))
    auroc = report["novelty"]["auroc"]
    assert report["novelty"]["seen_photos"] == 550 and report["novelty"]["unseen_photos"] == 1690
    assert auroc["energy"] >= 0.90 and auroc["energy"] > auroc["max_softmax"] + 0.05, auroc  # 0.906 vs 0.832
    assert report["novelty"]["seen_gate_uses"] == "energy"
    # calibrated stacking cannot help on the 21K index: even the best gamma for these very photos gains little
    g = report["gzsl"]
    assert g["unseen_photos"] > 800 and g["h"]["@5"]["gamma=0"] < 0.2
