"""`zsclf batch --engine ray` on a local Ray instance (2 CPUs): the same results as `predict`, bad images as
error rows, a killed run resumed without duplicates, the decode stage and shipped models."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import SHARED, needs_shared
from test_batch import SCHEMA, rows_of

pytest.importorskip("pyarrow", reason="zsclf batch needs pyarrow (the `ray` extra)")
ray = pytest.importorskip("ray", reason="--engine ray needs Ray Data (the `ray` extra)")
pytest.importorskip("ray.data", reason="--engine ray needs Ray Data (the `ray` extra)")
pytestmark = needs_shared("imagenet-sample")

from zsclf.batch import BatchRequest, run_batch  # noqa: E402
from zsclf.pipeline.classifier import Classifier, ClassifierConfig  # noqa: E402


@pytest.fixture(scope="module")
def ray_local():
    """One local Ray instance for the module (~3 s to start on 2 cores)."""
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
             object_store_memory=300 * 1024 * 1024)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def sample64() -> list[str]:
    from zsclf.data.image_files import walk_images

    return [str(p) for p in walk_images(SHARED / "imagenet-sample")][:64]


@pytest.fixture(scope="module")
def expected(sample64, default_index) -> dict[str, dict]:
    """What `predict` (the library's predict_paths, scores unrounded) says for each photo."""
    clf = Classifier.from_config(ClassifierConfig(index=default_index))
    return {r.path: {"labels": [p.label for p in r.predictions], "ids": [p.id for p in r.predictions],
                     "scores": [p.score for p in r.predictions]} for r in clf.predict_paths(sample64)}


def check_rows(rows: list[dict], expected: dict[str, dict], exact: bool = True) -> None:
    """Every photo once, with predict's labels and ids, and its scores (exactly, when the photos were batched
    as predict batches them; else within 2e-6: FAISS's batched search can differ in the last float bit)."""
    good = [r for r in rows if r["error"] is None]
    assert len({r["path"] for r in rows}) == len(rows), "a path is in the output twice"
    assert {r["path"] for r in good} == set(expected)
    for row in good:
        want = expected[row["path"]]
        assert (row["labels"], row["ids"]) == (want["labels"], want["ids"]), row["path"]
        assert row["scores"] == want["scores"] if exact else row["scores"] == pytest.approx(want["scores"], abs=2e-6)


def test_ray_gives_predicts_top_k_and_an_error_row_for_a_bad_image(tmp_path, ray_local, sample64, expected):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"GIF89a but not really")
    outcome = run_batch(BatchRequest([*sample64, str(bad), str(tmp_path / "gone.png")], str(tmp_path / "out"),
                                     engine="ray", workers=2, part_rows=32, classifier=ClassifierConfig(threads=1)))
    assert (outcome.scored, outcome.failed, outcome.workers) == (66, 2, 2)
    rows = rows_of(tmp_path / "out")
    check_rows(rows, expected)
    errors = {r["path"]: r["error"] for r in rows if r["error"]}
    assert errors == {str(bad): f"{bad}: not an image Pillow can read", str(tmp_path / "gone.png"):
                      f"{tmp_path / 'gone.png'}: no such file"}
    import pyarrow.parquet as pq

    for part in (tmp_path / "out").glob("part-*.parquet"):
        assert [(f.name, str(f.type), f.nullable) for f in pq.read_schema(part)] == SCHEMA


def test_cpu_decode_stage_and_shipped_models_give_the_same_rows(tmp_path, ray_local, sample64, expected):
    outcome = run_batch(BatchRequest(sample64[:32], str(tmp_path / "out"), engine="ray", workers=1,
                                     split_decode=True, ship_models=True))
    assert outcome.scored == 32 and outcome.failed == 0
    check_rows(rows_of(tmp_path / "out"), {p: expected[p] for p in sample64[:32]})


def test_a_killed_run_resumes_without_duplicates(tmp_path, ray_local, sample64, expected):
    out = tmp_path / "out"
    listing = tmp_path / "list.txt"
    listing.write_text("\n".join(sample64) + "\n")
    cmd = [sys.executable, "-m", "zsclf.cli", "batch", str(listing), "-o", str(out), "--engine", "ray",
           "--workers", "1", "--threads", "1", "--batch-size", "4", "--part-rows", "4", "-q"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while len(list(out.glob("part-*.parquet"))) < 2 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the driver and the Ray instance it started
        proc.wait()
    written = len(rows_of(out))
    assert 0 < written < 64, f"the run was not stopped midway ({written} rows written)"
    outcome = run_batch(BatchRequest([str(listing)], str(out), engine="ray", workers=1, batch_size=4, part_rows=4,
                                     classifier=ClassifierConfig(threads=1)))
    assert outcome.skipped == written and outcome.scored == 64 - written
    check_rows(rows_of(out), expected, exact=False)  # batches of 4, not predict's 32
    assert not list(out.glob(".*"))
