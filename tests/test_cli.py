"""End-to-end: the real `zsclf` command on real photos with real models and indexes."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
import sys

import pytest

from conftest import IMAGES, ROOT, SHARED, needs_shared, run_cli
from zsclf.data.labels import imagenet1k
from zsclf.index.store import current_version
from zsclf.models.registry import load_manifest

CAT_SYNSETS = {"n02123045", "n02123159", "n02124075", "n02121620", "n02121808", "n02123394", "n02122948"}
COFFEE_SYNSETS = {"n07920052", "n07929519", "n07930864", "n07920349", "n07920222"}


def jsonl(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines()]


@pytest.fixture(scope="module")
def photos_result(default_index) -> list[dict]:
    proc = run_cli("predict", str(IMAGES / "chelsea.png"), str(IMAGES / "coffee.png"), "-k", "5")
    assert proc.returncode == 0, proc.stderr
    return jsonl(proc.stdout)


def test_cat_photo_is_a_cat(photos_result):
    cat = photos_result[0]
    assert cat["path"].endswith("chelsea.png")
    assert {p["id"] for p in cat["predictions"]} & CAT_SYNSETS, cat


def test_coffee_photo_is_espresso_or_coffee(photos_result):
    ids = {p["id"] for p in photos_result[1]["predictions"]}
    assert ids & COFFEE_SYNSETS, photos_result[1]


def test_jsonl_contract(photos_result):
    for record in photos_result:
        assert set(record) == {"path", "predictions"}
        assert len(record["predictions"]) == 5
        scores = [p["score"] for p in record["predictions"]]
        assert scores == sorted(scores, reverse=True) and all(-1 <= s <= 1 for s in scores)
        assert all(set(p) == {"label", "id", "score"} for p in record["predictions"])


def test_stdin_batch_keeps_input_order(default_index):
    names = ["rocket.jpg", "chelsea.png", "grace_hopper.jpg", "coffee.png", "flower.jpg"]
    stdin = "".join(f"{IMAGES / n}\n" for n in names)
    proc = run_cli("predict", "-", "--batch-size", "2", stdin=stdin)
    assert proc.returncode == 0, proc.stderr
    records = jsonl(proc.stdout)
    assert [r["path"] for r in records] == [str(IMAGES / n) for n in names]
    assert proc.stderr == ""


@pytest.mark.parametrize("fmt,delimiter", [("csv", ","), ("tsv", "\t")])
def test_delimited_formats(default_index, fmt, delimiter):
    proc = run_cli("predict", str(IMAGES), "--format", fmt, "-k", "3")
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.reader(io.StringIO(proc.stdout), delimiter=delimiter))
    assert rows[0] == ["path", "rank", "label", "id", "score"]
    assert len(rows) == 1 + 5 * 3
    assert [r[1] for r in rows[1:4]] == ["1", "2", "3"]
    assert all(-1 <= float(r[4]) <= 1 for r in rows[1:])


def test_table_format(default_index):
    proc = run_cli("predict", str(IMAGES / "chelsea.png"), "--format", "table", "-k", "2")
    assert proc.returncode == 0
    assert "chelsea.png" in proc.stdout and "score" in proc.stdout


def test_bad_files_among_good_ones(default_index, tmp_path):
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    text = tmp_path / "notes.png"
    text.write_text("hello")
    inputs = [str(IMAGES / "chelsea.png"), str(empty), str(tmp_path / "missing.jpg"), str(text),
              str(IMAGES / "coffee.png")]
    proc = run_cli("predict", *inputs)
    assert proc.returncode == 1
    records = jsonl(proc.stdout)
    assert [r["path"] for r in records] == inputs
    assert [("error" in r) for r in records] == [False, True, True, True, False]
    assert "empty file" in records[1]["error"] and "no such file" in records[2]["error"]
    err_lines = proc.stderr.strip().splitlines()
    assert len(err_lines) == 4 and all(line.startswith("zsclf: ") for line in err_lines)
    assert "3 of 5 inputs failed" in err_lines[-1]


def test_exclude_seen_never_returns_training_classes(default_index):
    seen = set(imagenet1k().ids)
    proc = run_cli("predict", str(IMAGES), "--exclude-seen", "-k", "20")
    assert proc.returncode == 0, proc.stderr
    records = jsonl(proc.stdout)
    assert all(len(r["predictions"]) == 20 for r in records)
    assert not {p["id"] for r in records for p in r["predictions"]} & seen
    # the cat is still some kind of cat among the unseen synsets
    assert any("cat" in p["label"] for p in records[0]["predictions"])


def test_seen_gate_gives_the_cnn_classes_with_probabilities(default_index):
    proc = run_cli("predict", str(IMAGES / "coffee.png"), "--seen-gate", "0.5", "-k", "3", expect=0)
    preds = jsonl(proc.stdout)[0]["predictions"]
    assert preds[0]["id"] == "n07920052" and preds[0]["score"] > 0.5  # espresso, the CNN's own top class
    assert sum(p["score"] for p in preds) <= 1.0 + 1e-6 and [p["score"] for p in preds] == sorted(
        [p["score"] for p in preds], reverse=True)


def test_min_score_drops_low_scores(default_index):
    proc = run_cli("predict", str(IMAGES / "chelsea.png"), "-k", "50", "--min-score", "0.8", expect=0)
    preds = jsonl(proc.stdout)[0]["predictions"]
    assert 0 < len(preds) < 50 and all(p["score"] >= 0.8 for p in preds)


def test_build_index_then_predict_with_it(models_ready, tmp_path):
    labels = tmp_path / "mine.txt"
    labels.write_text("tabby cat\nespresso\nrocket\nsailboat\n\ngiraffe\nespresso\n")
    out = tmp_path / "mine.index"
    proc = run_cli("build-index", str(labels), "-o", str(out), "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert "dropped 1 blank lines and 1 duplicates" in proc.stderr
    meta = json.loads((current_version(out) / "meta.json").read_text())
    assert meta["count"] == 5 and meta["text_encoder"]["name"] == load_manifest().default_text_model
    # a short list of one's own labels is corrected against typical photos: [v, -offset] rows (384 + 1)
    assert meta["dim"] == 385 and meta["label_prior"]["method"] == "inverted_softmax"
    proc = run_cli("predict", "--index", str(out), str(IMAGES / "chelsea.png"), str(IMAGES / "coffee.png"),
                   "-k", "1")
    assert proc.returncode == 0, proc.stderr
    assert [r["predictions"][0]["label"] for r in jsonl(proc.stdout)] == ["tabby cat", "espresso"]


def test_build_index_hnsw_reports_recall(models_ready, tmp_path):
    labels = tmp_path / "l.txt"
    labels.write_text("\n".join(f"label number {i}" for i in range(300)))
    proc = run_cli("build-index", str(labels), "-o", str(tmp_path / "h"), "--kind", "hnsw", "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert "HNSW recall@10 vs exact" in proc.stderr


def test_empty_label_file_is_exit_2(models_ready, tmp_path):
    labels = tmp_path / "empty.txt"
    labels.write_text("\n\n")
    proc = run_cli("build-index", str(labels), "-o", str(tmp_path / "x"))
    assert proc.returncode == 2 and "empty label file" in proc.stderr
    assert not (tmp_path / "x").exists()


def test_index_from_another_text_encoder_is_refused(default_index, tmp_path):
    copy = tmp_path / "idx"
    shutil.copytree(default_index, copy)
    meta_path = current_version(copy) / "meta.json"  # not covered by the checksums (it holds them)
    meta = json.loads(meta_path.read_text())
    meta["text_encoder"]["sha256"] = "0" * 64
    meta_path.write_text(json.dumps(meta))
    proc = run_cli("predict", "--index", str(copy), str(IMAGES / "chelsea.png"))
    assert proc.returncode == 2
    assert "built with text encoder" in proc.stderr and "rebuild" in proc.stderr
    assert proc.stdout == "" and len(proc.stderr.strip().splitlines()) == 1


def test_corrupt_index_is_exit_2_not_a_crash(default_index, tmp_path):
    copy = tmp_path / "idx"
    shutil.copytree(default_index, copy)
    faiss_path = current_version(copy) / "index.faiss"
    data = faiss_path.read_bytes()
    faiss_path.write_bytes(data[: len(data) // 3])
    proc = run_cli("predict", "--index", str(copy), str(IMAGES / "chelsea.png"))
    assert proc.returncode == 2 and "truncated or corrupt" in proc.stderr


def test_usage_errors_are_exit_2(default_index, tmp_path):
    assert run_cli("predict").returncode == 2
    assert run_cli("predict", str(IMAGES / "chelsea.png"), "--top-k", "0").returncode == 2
    proc = run_cli("predict", str(tmp_path))  # an empty folder
    assert proc.returncode == 2 and "no images found" in proc.stderr


def test_predict_never_imports_torch(default_index):
    code = (f"import sys; sys.argv=['zsclf', 'predict', {str(IMAGES / 'coffee.png')!r}]\n"
            "import zsclf.cli as c\ntry:\n    c.main()\nexcept SystemExit:\n    pass\n"
            "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH', file=sys.stderr)")

    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert "NO-TORCH" in proc.stderr, proc.stderr


def test_info_reports_providers_and_checksums(default_index):
    proc = run_cli("info", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert "CPUExecutionProvider" in data["onnxruntime"]["in_use"]
    assert data["models"]["efficientnet-lite0"]["sha256_ok"] is True
    assert data["index"]["meta"]["count"] == 21841
    assert data["locations"]["models"] == str(ROOT / "models")


def test_locations_follow_environment(tmp_path, models_ready):
    proc = run_cli("info", "--json", "--no-checksums", env={"ZSCLF_INDEX": str(tmp_path / "elsewhere")}, expect=0)
    data = json.loads(proc.stdout)
    assert data["locations"]["default_index"] == str(tmp_path / "elsewhere")
    assert "no index there" in data["index"]["error"]
    proc = run_cli("predict", str(IMAGES / "chelsea.png"), env={"ZSCLF_INDEX": str(tmp_path / "elsewhere")})
    assert proc.returncode == 2 and "build-index" in proc.stderr


def test_version_and_help():
    assert run_cli("--version", expect=0).stdout.startswith("zsclf ")
    out = run_cli("--help", expect=0).stdout
    assert all(cmd in out for cmd in ("predict", "build-index", "info"))


@needs_shared("photos")
def test_shared_photos_folder_classifies_every_image(default_index):
    proc = run_cli("predict", str(SHARED / "photos"), "-k", "5")
    assert proc.returncode == 0, proc.stderr
    records = jsonl(proc.stdout)
    assert len(records) == 18
    by_name = {r["path"].rsplit("/", 1)[1]: {p["id"] for p in r["predictions"]} for r in records}
    assert "n04485082" in by_name["camera.png"]  # tripod
    assert by_name["chelsea.png"] & CAT_SYNSETS


def test_build_index_never_overwrites_something_else(models_ready, tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "notes.txt").write_text("keep me")
    labels = tmp_path / "l.txt"
    labels.write_text("cat\ndog\n")
    proc = run_cli("build-index", str(labels), "-o", str(victim), "-q")
    assert proc.returncode == 2 and "not a zsclf index" in proc.stderr
    assert (victim / "notes.txt").read_text() == "keep me"


def test_plain_label_list_records_the_template_it_really_used(models_ready, tmp_path):
    labels = tmp_path / "l.txt"
    labels.write_text("espresso\ntabby cat\n")
    run_cli("build-index", str(labels), "-o", str(tmp_path / "i"), "-q", "--label-prior", "off", expect=0)
    meta = json.loads((current_version(tmp_path / "i") / "meta.json").read_text())
    assert meta["template"] == "name"  # no glosses to add
    preds = jsonl(run_cli("predict", "--index", str(tmp_path / "i"), str(IMAGES / "coffee.png"), expect=0).stdout)
    assert preds[0]["predictions"][0]["label"] == "espresso" and preds[0]["predictions"][0]["score"] > 0.9


def test_small_index_edge_cases(models_ready, tmp_path):
    labels = tmp_path / "l.tsv"
    labels.write_text("wnid\tlabel\nn07920052\tespresso\nx1\tfoo\tbar\n".replace("\tbar", " bar"))
    run_cli("build-index", str(labels), "-o", str(tmp_path / "i"), "-q", expect=0)
    manifest = tmp_path / "m.tsv"
    manifest.write_text(f"path\tlabel\n{IMAGES / 'coffee.png'}\tfoo bar\n")
    proc = run_cli("eval", str(manifest), "--index", str(tmp_path / "i"), "--exclude-seen", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["hit"]["@1"] == 1.0  # espresso excluded: foo bar is all that is left
    nothing = tmp_path / "n.tsv"
    nothing.write_text(f"path\tlabel\n{IMAGES / 'coffee.png'}\tzebra\n")
    proc = run_cli("eval", str(nothing), "--index", str(tmp_path / "i"), "--json", expect=2)
    assert "no label of" in proc.stderr and "zebra" in proc.stderr and proc.stdout == ""


def test_no_inputs_write_nothing_to_stdout(default_index, tmp_path):
    proc = run_cli("predict", str(tmp_path), "--format", "csv")
    assert proc.returncode == 2 and proc.stdout == ""
    proc = run_cli("predict", "-", stdin=f"  \n{IMAGES / 'coffee.png'}\n\t\n")
    assert proc.returncode == 0 and len(jsonl(proc.stdout)) == 1


def test_projection_without_examples_is_a_usage_error(models_ready, tmp_path):
    labels = tmp_path / "l.txt"
    labels.write_text("cat\n")
    proc = run_cli("build-index", str(labels), "--projection", str(tmp_path / "p.npz"), "-o", str(tmp_path / "i"))
    assert proc.returncode == 2 and "--examples" in proc.stderr


def test_verbose_says_what_runs_where_on_stderr_only(default_index):
    proc = run_cli("predict", str(IMAGES / "coffee.png"), "--verbose", "-k", "1", expect=0)
    text_model = load_manifest().default_text_model  # the default index was built with the default text model
    (line,) = proc.stderr.splitlines()
    assert re.match(r"zsclf: encoder efficientnet-lite0 on (cpu|cuda), search on (cpu|cuda), index imagenet21k\.tsv ",
                    line), line
    assert f"(21841 labels, text model {text_model})" in line
    assert [json.loads(r)["predictions"][0]["label"] for r in proc.stdout.splitlines()] == ["espresso"]
