"""Memory bounds of the encode loop, whatever the flags: threads clamped to the cores, the encoder
fed sub-batches of at most `max_batch` images, each batch decoded just ahead of its encoder."""

from __future__ import annotations

import numpy as np

from conftest import IMAGES, run_cli
from zsclf.core.device import clamp_threads, default_threads


def test_threads_are_clamped_to_the_cores_with_a_note():
    cores = default_threads()
    assert clamp_threads(None) == (cores, None)
    assert clamp_threads(1) == (1, None)
    threads, note = clamp_threads(cores + 998)
    assert threads == cores and f"--threads {cores + 998}: using {cores}" in note


def test_sub_batches_give_the_same_outputs_as_one_run(image_encoder):
    batch = np.random.default_rng(0).integers(0, 256, (10, 224, 224, 3), dtype=np.uint8)
    saved = image_encoder.max_batch
    try:
        image_encoder.max_batch = None
        whole = image_encoder.encode(batch)
        image_encoder.max_batch = 4
        split = image_encoder.encode(batch)
    finally:
        image_encoder.max_batch = saved
    for a, b in zip(whole, split, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def test_a_huge_batch_reaches_the_encoder_only_in_sub_batches(default_index, tmp_path):
    from zsclf import Classifier

    clf = Classifier.load(default_index, device="cpu", threads=1000)
    assert clf.threads == default_threads()
    (tmp_path / "bad.jpg").write_bytes(b"not an image")
    photos = sorted(str(p) for p in IMAGES.iterdir() if p.suffix in (".jpg", ".png"))
    inputs = (photos * 3)[:11]
    inputs[2], inputs[7] = str(tmp_path / "bad.jpg"), str(tmp_path / "missing.jpg")
    sizes, session = [], clf.encoder.session

    class Recorder:
        def run(self, names, feeds, *args):
            sizes.append(len(next(iter(feeds.values()))))
            return session.run(names, feeds, *args)

    clf.encoder.session = Recorder()
    try:
        (out,) = list(clf.stream(inputs, batch_size=1000))
    finally:
        clf.encoder.session = session
    assert out.paths == inputs and [i for i, e in enumerate(out.errors) if e is not None] == [2, 7]
    assert max(sizes) <= clf.encoder.max_batch and sum(sizes) == 9 == len(out.features) == len(out.queries)
    small = [r.predictions[0].label if r.predictions else None for r in clf.predict_paths(inputs, batch_size=3)]
    large = [r.predictions[0].label if r.predictions else None for r in clf.predict_paths(inputs, batch_size=1000)]
    assert small == large


def test_threads_beyond_the_cores_are_noted_on_stderr(default_index):
    proc = run_cli("predict", str(IMAGES / "chelsea.png"), "--threads", "1000", "--batch-size", "1000", expect=0)
    assert "--threads 1000: using" in proc.stderr and len(proc.stdout.splitlines()) == 1
