"""The int8 image model (issue 18): made by the export step from committed ranges, byte-identical given the
same float model, recorded in the manifest beside its float sibling, usable by name, using what its float
sibling made (pipeline.compat.same_image_model)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import IMAGES, ROOT, run_cli

FLOAT, INT8 = "efficientnet-lite0", "efficientnet-lite0-int8"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def int8_models(tmp_path_factory, models_ready) -> Path:
    """A models folder exported by tools/export_models.py --image efficientnet-lite0-int8 (float + int8),
    with the checkout's text model beside them."""
    pytest.importorskip("torch")
    pytest.importorskip("efficientnet_lite_pytorch")
    out = tmp_path_factory.mktemp("models")
    for name in ("all-minilm-l6-v2.onnx", "all-minilm-l6-v2-int8.onnx", "all-minilm-l6-v2.tokenizer.json"):
        (out / name).symlink_to((ROOT / "models" / name).resolve())
    shutil.copy(ROOT / "models" / "manifest.json", out / "manifest.json")
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "export_models.py"), "--models-dir", str(out),
                           "--image", INT8, "--no-text"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert f"exported {FLOAT}:" in proc.stderr and f"exported {INT8}:" in proc.stderr
    return out


def env(models: Path) -> dict[str, str]:
    return {"ZSCLF_MODELS": str(models)}


def test_two_quantizations_of_the_same_float_model_are_byte_identical(int8_models, tmp_path):
    from zsclf.install.quantize import load_ranges, quantize_model

    again = tmp_path / "again.onnx"
    quantize_model(int8_models / f"{FLOAT}.onnx", again, load_ranges(INT8))
    assert again.read_bytes() == (int8_models / f"{INT8}.onnx").read_bytes()
    assert again.stat().st_size < 0.6 * (int8_models / f"{FLOAT}.onnx").stat().st_size


def test_manifest_names_the_int8_sibling_and_how_it_was_made(int8_models):
    manifest = json.loads((int8_models / "manifest.json").read_text())
    fl, q = manifest["models"][FLOAT], manifest["models"][INT8]
    assert q["file"] == f"{INT8}.onnx" and q["sha256"] == sha256(int8_models / q["file"]) != fl["sha256"]
    assert q["source"] == fl["source"] and q["input"] == fl["input"] and q["outputs"] == fl["outputs"]
    assert q["classifier"] == fl["classifier"] and q["classifier_sha256"] == fl["classifier_sha256"]
    ranges = ROOT / "labels" / f"{INT8}.ranges.json"
    assert q["quantized"]["from_sha256"] == fl["sha256"] and q["quantized"]["ranges_sha256"] == sha256(ranges)
    assert "quantized" not in fl
    assert manifest["default_image_model"] == FLOAT  # int8 misses the hit@1 parity target (docs/int8.md)


def test_the_ranges_ship_with_the_package():
    from zsclf.install.quantize import ranges_path

    assert ranges_path(INT8).is_file() and ranges_path(FLOAT) == ranges_path(INT8)
    assert "resources/labels/*.json" in (ROOT / "pyproject.toml").read_text()


def test_predict_with_the_int8_model_gives_the_right_labels(int8_models, default_index):
    expected = {"chelsea.png": "cat", "coffee.png": "espresso", "grace_hopper.jpg": "military uniform",
                "rocket.jpg": "missile"}
    proc = run_cli("predict", "--model", INT8, "-k", "3", *(str(IMAGES / n) for n in expected),
                   env=env(int8_models), expect=0)
    records = [json.loads(line) for line in proc.stdout.splitlines()]
    for record, (name, label) in zip(records, expected.items(), strict=True):
        assert record["path"].endswith(name)
        assert any(label in p["label"] for p in record["predictions"]), (name, record["predictions"])


def test_hedging_defaults_apply_to_the_int8_sibling(int8_models, default_index):
    run_cli("predict", "--model", INT8, "--hedge", "0.8", str(IMAGES / "chelsea.png"), env=env(int8_models), expect=0)


def test_benchmark_compares_models_side_by_side(int8_models, default_index):
    proc = run_cli("benchmark", str(IMAGES), "--limit", "2", "--repeats", "1", "--cold-runs", "1", "--device", "cpu",
                   "--model", FLOAT, "--model", INT8, "--json", env=env(int8_models), expect=0)
    result = json.loads(proc.stdout)
    assert [r["model"] for r in result["runs"]] == [FLOAT, INT8]
    ratios = result["compare"]["cpu"][INT8]
    assert {"encoder_speedup", "end_to_end_speedup", "cold_start", "cold_start_peak_rss"} <= set(ratios)
    assert result["compare"]["cpu"][FLOAT]["end_to_end_speedup"] == 1.0
    assert all(r["cold_start"]["peak_rss_mb"] > 0 for r in result["runs"])
    unknown = run_cli("benchmark", str(IMAGES), "--model", "nope", "--cold-runs", "0", env=env(int8_models), expect=2)
    assert "unknown image model 'nope'" in unknown.stderr


def _examples(tmp_path: Path) -> Path:
    examples = tmp_path / "examples"
    for label, photo in (("my cat", "chelsea.png"), ("my mug", "coffee.png")):
        (examples / label).mkdir(parents=True)
        shutil.copy(IMAGES / photo, examples / label / photo)
    return examples


def test_int8_uses_what_its_float_sibling_made_and_the_reverse_is_refused_in_one_line(int8_models, tmp_path):
    examples, built = _examples(tmp_path), {}
    for model in (FLOAT, INT8):
        built[model] = tmp_path / f"index-{model}"
        run_cli("build-index", "--examples", str(examples), "--model", model, "-o", str(built[model]), "-q",
                env=env(int8_models), expect=0)
    photos = [str(IMAGES / "chelsea.png"), str(IMAGES / "coffee.png")]
    shared = run_cli("predict", "--index", str(built[FLOAT]), "--model", INT8, "-k", "1", *photos,
                     env=env(int8_models), expect=0)
    assert [json.loads(line)["predictions"][0]["label"] for line in shared.stdout.splitlines()] == ["my cat", "my mug"]
    before = {p: p.read_bytes() for p in built[INT8].rglob("*") if p.is_file()}
    refused = run_cli("predict", "--index", str(built[INT8]), "--model", FLOAT, *photos, env=env(int8_models),
                      expect=2)
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and f"built with image encoder {INT8}, not {FLOAT}" in lines[0]
    assert "an int8 model may use what its float sibling made, not the reverse" in lines[0]
    assert {p: p.read_bytes() for p in built[INT8].rglob("*") if p.is_file()} == before


def test_an_int8_export_without_its_ranges_is_one_clear_error(tmp_path, monkeypatch):
    from zsclf.core import paths
    from zsclf.errors import ZsclfError
    from zsclf.install import quantize

    monkeypatch.setattr(paths, "PACKAGED_LABELS", tmp_path)
    with pytest.raises(ZsclfError, match="no usable int8 activation ranges for efficientnet-lite0"):
        quantize.load_ranges(INT8)
    assert not os.listdir(tmp_path)
