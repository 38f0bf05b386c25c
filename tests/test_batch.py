"""`zsclf batch` with the local engine: the Arrow unit of work, inputs, Parquet parts, resume, sizing.

Library tests use the fake encoder of test_classifier (no models); end-to-end tests use the real
models, the default index and photos from ../shared/data (skipped when absent)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import IMAGES, SHARED, needs_shared, run_cli
from test_classifier import COLOURS, fake_classifier
from zsclf.errors import ZsclfError

pa = pytest.importorskip("pyarrow", reason="zsclf batch needs pyarrow (the `batch` extra)")
pq = pytest.importorskip("pyarrow.parquet")

from zsclf.batch import BatchRequest  # noqa: E402
from zsclf.batch.sink import RUN_FILE, PartSink, RunSettings  # noqa: E402
from zsclf.batch.sizing import plan_workers, worker_memory_mb  # noqa: E402
from zsclf.batch.sources import list_paths  # noqa: E402
from zsclf.pipeline.classifier import ClassifierConfig  # noqa: E402
from zsclf.pipeline.result_table import result_schema  # noqa: E402

SCHEMA = [("path", "string", False), ("labels", "list<element: string>", True),
          ("ids", "list<element: string>", True), ("scores", "list<element: double>", True),
          ("error", "string", True)]


@pytest.fixture
def colours(tmp_path) -> dict[str, str]:
    paths = {}
    for name, rgb in COLOURS.items():
        paths[name] = tmp_path / "photos" / f"{name}.png"
        paths[name].parent.mkdir(exist_ok=True)
        Image.new("RGB", (20, 12), rgb).save(paths[name])
    paths["broken"] = tmp_path / "photos" / "broken.jpg"
    paths["broken"].write_bytes(b"not a jpeg")
    return {k: str(v) for k, v in paths.items()}


def rows_of(folder: Path) -> list[dict]:
    return sorted(pq.read_table(folder).to_pylist(), key=lambda r: r["path"])


def test_the_schema_is_fixed():
    assert [(f.name, str(f.type), f.nullable) for f in result_schema()] == SCHEMA


def test_score_paths_is_predict_paths_as_a_table(colours):
    clf, _ = fake_classifier()
    paths = [colours[k] for k in ("red", "broken", "green", "blue")] + ["/no/such.png"]
    results = list(clf.predict_paths(paths, top_k=2, batch_size=2))
    table = clf.score_paths(paths, top_k=2, batch_size=2)
    assert table.schema == result_schema()
    for result, row in zip(results, table.to_pylist(), strict=True):
        assert row["path"] == result.path and row["error"] == result.error
        if result.predictions is None:
            assert row["labels"] is row["ids"] is row["scores"] is None
        else:
            assert row["labels"] == [p.label for p in result.predictions]
            assert row["ids"] == [p.id for p in result.predictions]
            assert row["scores"] == [p.score for p in result.predictions]


def test_score_pixels_gives_the_same_rows_for_images_decoded_elsewhere(colours):
    from zsclf.pipeline.images import load_and_preprocess

    clf, encoder = fake_classifier()
    paths = [colours[k] for k in ("red", "broken", "blue")]
    pixels = np.stack([load_and_preprocess(p, encoder.preprocess) for p in (paths[0], paths[2])])
    reason = clf.score_paths([paths[1]]).column("error")[0].as_py().removeprefix(f"{paths[1]}: ")
    table = clf.score_pixels(paths, pixels, [None, reason, None], top_k=2)
    assert table.to_pylist() == clf.score_paths(paths, top_k=2).to_pylist()


def test_inputs_folders_lists_tables_parquet_stdin_and_uris(tmp_path, colours):
    folder = Path(colours["red"]).parent
    names = sorted(p.name for p in folder.iterdir())  # blue, broken, green, red
    walked = [str(folder / n) for n in names]
    assert list(list_paths([str(folder)])) == walked
    (folder / "list.txt").write_text("red.png\n\n  \n/abs/elsewhere.jpg\n")
    assert list(list_paths([str(folder / "list.txt")])) == [str(folder / "red.png"), "/abs/elsewhere.jpg"]
    (tmp_path / "t.csv").write_text('id,Path\n1,"photos/red.png"\n2,photos/blue.png\n')
    (tmp_path / "t.tsv").write_text("file\tx\nphotos/green.png\t1\n")
    assert list(list_paths([str(tmp_path / "t.csv"), str(tmp_path / "t.tsv")])) == \
        [str(tmp_path / "photos" / n) for n in ("red.png", "blue.png", "green.png")]
    pq.write_table(pa.table({"n": [1, 2], "image_uri": [colours["red"], "photos/blue.png"]}), tmp_path / "t.parquet")
    with pytest.raises(ZsclfError, match="--path-column"):
        list(list_paths([str(tmp_path / "t.parquet")]))
    assert list(list_paths([str(tmp_path / "t.parquet")], path_column="image_uri")) == \
        [colours["red"], str(tmp_path / "photos" / "blue.png")]
    assert list(list_paths(["-", colours["blue"]], stdin=[b"a.jpg\n", b"\n", b"b\xff.jpg\n"])) == \
        ["a.jpg", os.fsdecode(b"b\xff.jpg"), colours["blue"]]
    uri = f"file://{folder}"
    assert list(list_paths([uri])) == [f"{uri}/{n}" for n in names]
    with pytest.raises(ZsclfError, match="cannot read path list"):
        list(list_paths([str(tmp_path / "absent.txt")]))


def test_images_at_uris_are_read_through_pyarrow(colours):
    clf, _ = fake_classifier()
    uri = f"file://{colours['green']}"
    (good, missing) = clf.predict_paths([uri, uri + ".absent.png"], top_k=1)
    assert good.predictions[0].label == "green"
    assert missing.error.endswith("no such file")


def settings(**changes) -> RunSettings:
    base = dict(index="/i", labels=4, image_model="m", image_model_sha256="0", top_k=2, top_t=1, exclude_seen=False)
    return RunSettings(**{**base, **changes})


def test_parts_are_atomic_and_a_resume_skips_what_is_written(tmp_path, colours):
    clf, _ = fake_classifier()
    out = tmp_path / "out"
    sink = PartSink(str(out), settings(), part_rows=2)
    paths = [colours[k] for k in ("red", "green", "blue", "broken")]
    for i in range(0, 4, 2):
        sink.add(clf.score_paths(paths[i:i + 2], top_k=2))
    sink.flush()
    parts = sorted(p.name for p in out.glob("part-*.parquet"))
    assert len(parts) == 2 and sink.rows == 4 and sink.failed == 1
    assert all(pq.read_schema(out / p).remove_metadata() == result_schema() for p in parts)
    (out / parts[1]).unlink()  # as if the run had been killed while writing its second part:
    (out / f".{parts[1]}.x1y2.tmp").write_bytes(b"half a part")
    again = PartSink(str(out), settings(), part_rows=2)
    assert again.done == set(paths[:2]) and list(out.glob(".*.tmp"))  # nothing is touched before a part is written
    again.add(clf.score_paths(paths[2:], top_k=2))
    assert not list(out.glob(".*.tmp")) and len(list(out.glob("part-*.parquet"))) == 2
    assert (out / RUN_FILE).is_file()
    with pytest.raises(ZsclfError, match=r"top_k 2 \(now 3\)"):
        PartSink(str(out), settings(top_k=3), part_rows=2)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(ZsclfError, match="not a `zsclf batch` output"):
        PartSink(str(tmp_path / "other"), settings(), part_rows=2)


def test_worker_sizing():
    # the measured peaks the formula was fitted to (docs/batch.md): local engine, threads x batch size
    for (threads, batch), measured in {(1, 8): 324, (1, 32): 330, (2, 32): 369, (2, 64): 375}.items():
        assert worker_memory_mb(threads, batch, ray=False) == pytest.approx(measured, rel=0.05)
    for threads, measured in ((2, 488), (1, 452)):  # a Ray actor's VmHWM here, 1,000 photos, batch 32
        assert worker_memory_mb(threads) == pytest.approx(measured, rel=0.05)
    request = BatchRequest(["x"], "o", engine="ray")
    plan = plan_workers({"CPU": 16.0, "memory": 64e9}, request, inputs=10_000)
    assert (plan.workers, plan.threads, plan.rows) == (16, 1, 160)  # one per core; 4 calls each, a multiple of 32
    assert plan_workers({"CPU": 16.0, "memory": 64e9}, request, inputs=10**6).rows == 1024
    assert plan_workers({"CPU": 16.0, "memory": 1.3e9}, request, 10_000).workers == 2  # memory-bound
    two = BatchRequest(["x"], "o", engine="ray", classifier=ClassifierConfig(threads=2))
    assert plan_workers({"CPU": 16.0, "memory": 64e9}, two, inputs=10_000).workers == 8
    assert plan_workers({"CPU": 16.0, "memory": 64e9}, request, inputs=40).workers == 2  # one per batch of 32
    gpu = BatchRequest(["x"], "o", engine="ray", gpus_per_worker=0.5)
    assert plan_workers({"CPU": 8.0, "GPU": 2.0, "memory": 64e9}, gpu, 100_000).workers == 4
    with pytest.raises(ZsclfError, match="do not fit"):
        plan_workers({"CPU": 8.0, "memory": 64e9}, gpu, 100)
    with pytest.raises(ZsclfError, match="do not fit"):
        plan_workers({"CPU": 2.0, "memory": 64e9}, BatchRequest(["x"], "o", engine="ray", workers=3), 100)
    with pytest.raises(ZsclfError, match="only with --engine ray"):
        BatchRequest(["x"], "o", workers=2)


def test_missing_extras_are_one_clear_error(monkeypatch, tmp_path):
    from zsclf.batch.ray_engine import import_ray

    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ZsclfError, match=r"zsclf\[ray\]"):
        import_ray()
    monkeypatch.setitem(sys.modules, "pyarrow.fs", None)
    from zsclf.core import uri

    with pytest.raises(ZsclfError, match=r"zsclf\[batch\]"):
        uri.filesystem(str(tmp_path))


def test_predict_never_imports_the_batch_engines(default_index):
    code = ("import sys\nfrom zsclf.cli.app import main\nsys.argv = ['zsclf', 'predict', sys.argv[1]]\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('pyarrow', 'ray', 'zsclf.batch', 'torch') if m in sys.modules), file=sys.stderr)")
    proc = subprocess.run([sys.executable, "-c", code, str(IMAGES / "coffee.png")], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stderr.strip() == "[]", proc.stderr


@pytest.fixture(scope="module")
def sample64() -> list[str]:
    from zsclf.data.image_files import walk_images

    return [str(p) for p in walk_images(SHARED / "imagenet-sample")][:64]


@needs_shared("imagenet-sample")
def test_local_engine_gives_predicts_results_and_resumes(tmp_path, sample64, default_index):
    listing = tmp_path / "list.txt"
    listing.write_text("\n".join(sample64[:40]) + "\n" + str(tmp_path / "bad.jpg") + "\n")
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8 not really")
    out = tmp_path / "out"
    proc = run_cli("batch", str(listing), "-o", str(out), "--json", expect=1)  # one bad input: exit 1
    outcome = json.loads(proc.stdout)
    assert (outcome["scored"], outcome["failed"], outcome["parts"]) == (41, 1, 1)
    proc = run_cli("batch", *sample64, "-o", str(out), "-q", "--part-rows", "8", "--batch-size", "8", expect=0)
    assert "skipped 40" in proc.stderr
    rows = rows_of(out)
    assert len(rows) == 65 and len({r["path"] for r in rows}) == 65
    assert [r for r in rows if r["error"]][0]["error"].startswith(str(tmp_path / "bad.jpg"))
    predicted = {r["path"]: r for r in map(json.loads, run_cli("predict", *sample64, expect=0).stdout.splitlines())}
    for row in (r for r in rows if not r["error"]):
        want = predicted[row["path"]]["predictions"]
        assert row["labels"] == [p["label"] for p in want] and row["ids"] == [p["id"] for p in want]
        # predict prints scores rounded to 4 places; the engines' images run in other batches (last-bit
        # differences can fall either side of a rounding boundary)
        assert np.allclose(row["scores"], [p["score"] for p in want], atol=6e-5, rtol=0)


def test_an_address_nothing_answers_is_one_error_not_minutes_of_retries():
    from zsclf.batch.ray_engine import _check_reachable

    with pytest.raises(ZsclfError, match="nothing answers there"):
        _check_reachable("127.0.0.1:1")
    for address in (None, "auto", "local", "ray://head:10001"):
        _check_reachable(address)  # left to Ray


def test_a_damaged_part_is_named(tmp_path, colours):
    clf, _ = fake_classifier()
    sink = PartSink(str(tmp_path / "out"), settings(), part_rows=1)
    sink.add(clf.score_paths([colours["red"]], top_k=2))
    (part,) = (tmp_path / "out").glob("part-*.parquet")
    part.write_bytes(part.read_bytes()[:-20])
    with pytest.raises(ZsclfError, match=f"{part.name}: damaged part"):
        PartSink(str(tmp_path / "out"), settings(), part_rows=1)
