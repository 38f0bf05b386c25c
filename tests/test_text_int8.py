"""The int8 text model (issue 18 item 4): made by the export step, byte-identical given the same float model,
close to float on real labels, the default text model of a new install, and sharing the float model's
hedging fits (pipeline.compat.same_text_model)."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from conftest import IMAGES, ROOT, run_cli
from zsclf.index.store import current_version

FLOAT, INT8 = "all-minilm-l6-v2", "all-minilm-l6-v2-int8"


@pytest.fixture(scope="module")
def encoders(models_ready):
    from zsclf.models.text_encoder import TextEncoder

    pair = TextEncoder.load(FLOAT), TextEncoder.load(INT8)
    for text in pair:
        text.reuse = False
    return pair


@pytest.fixture(scope="module")
def glossed() -> list[str]:
    """About 300 real 21K labels with their glosses, in file order (lengths mixed)."""
    from zsclf.data.labels import DEFAULT_TEMPLATE, effective_template, read_labels

    labels = read_labels(ROOT / "labels" / "imagenet21k.tsv")
    return labels.texts(effective_template(labels, DEFAULT_TEMPLATE))[::73]


def test_quantizing_twice_gives_the_same_bytes(models_ready, tmp_path):
    from zsclf.install.quantize import quantize_text_model

    installed = ROOT / "models" / f"{INT8}.onnx"
    again = tmp_path / "again.onnx"
    quantize_text_model(ROOT / "models" / f"{FLOAT}.onnx", again)
    assert again.read_bytes() == installed.read_bytes()
    assert again.stat().st_size < 0.7 * (ROOT / "models" / f"{FLOAT}.onnx").stat().st_size


def test_manifest_records_the_sibling_and_how_it_was_made(models_ready):
    manifest = json.loads((ROOT / "models" / "manifest.json").read_text())["models"]
    fl, q = manifest[FLOAT], manifest[INT8]
    assert q["sha256"] == hashlib.sha256((ROOT / "models" / q["file"]).read_bytes()).hexdigest() != fl["sha256"]
    assert q["tokenizer"] == fl["tokenizer"] and q["source"] == fl["source"] and q["outputs"] == fl["outputs"]
    assert q["quantized"]["from_sha256"] == fl["sha256"] and "dynamic" in q["quantized"]["format"]


def test_label_vectors_stay_close_to_float(encoders, glossed):
    fl, q = (text.embed(glossed) for text in encoders)
    cosine = (fl * q).sum(axis=1)
    assert cosine.mean() > 0.99 and cosine.min() > 0.97, (cosine.mean(), cosine.min())
    assert ((q @ fl.T).argmax(axis=1) == np.arange(len(q))).all()  # each int8 vector finds its own float one
    # the nearest other label mostly stays the same (measured 0.89 of these 300: near ties among the rest)
    near_fl, near_q = ((v @ v.T - 2 * np.eye(len(v))).argmax(axis=1) for v in (fl, q))
    assert (near_fl == near_q).mean() > 0.8


def test_a_batch_is_deterministic_and_a_text_alone_stays_close(encoders, glossed):
    q = encoders[1]
    batch = q.embed(glossed)
    np.testing.assert_array_equal(batch, q.embed(glossed))  # the same texts in the same batches: the same bytes
    alone = np.stack([q.embed([text])[0] for text in glossed[:20]])
    # activations are quantized per batch: a text's vector moves a little with its batch mates (measured 0.991 min)
    assert (alone * batch[:20]).sum(axis=1).min() > 0.98


def test_a_new_install_defaults_to_the_int8_text_model(tmp_path):
    from zsclf.install.export import write_manifest

    entry = {"kind": "text", "file": "x.onnx"}
    assert json.loads(write_manifest(tmp_path, {FLOAT: entry, INT8: entry}).read_text())["default_text_model"] == INT8
    older = tmp_path / "older"
    older.mkdir()
    (older / "manifest.json").write_text(json.dumps({"format": 1, "models": {FLOAT: entry},
                                                     "default_text_model": FLOAT}))
    # an install that has a default keeps it (its indexes were built with it), even when the sibling is added
    assert json.loads(write_manifest(older, {INT8: entry}).read_text())["default_text_model"] == FLOAT


def test_hedging_fits_of_the_float_model_serve_the_int8_one(models_ready):
    from zsclf.pipeline.compat import same_text_model

    assert same_text_model(FLOAT, INT8) and same_text_model(INT8, INT8) and same_text_model(FLOAT, FLOAT)
    assert not same_text_model(INT8, FLOAT)  # the reverse is refused, as for image models
    assert not same_text_model(FLOAT, "some-other-model")


def test_build_index_text_model_and_each_index_answers_with_its_own(models_ready, tmp_path):
    """`build-index --text-model` picks the labels' text model; the index records it, and one built with the float
    model keeps answering on an install whose default is the int8 one (both installed), with its own vectors."""
    labels = tmp_path / "mine.txt"
    labels.write_text("tabby cat\ngolden retriever\nespresso\nsports car\nspace shuttle\n")
    for name in (FLOAT, INT8):
        out = tmp_path / name
        run_cli("build-index", str(labels), "-o", str(out), "--text-model", name, "-q", expect=0)
        assert json.loads((current_version(out) / "meta.json").read_text())["text_encoder"]["name"] == name
        found = run_cli("predict", str(IMAGES / "chelsea.png"), str(IMAGES / "coffee.png"), "--index", str(out),
                        "-k", "1", expect=0).stdout
        assert [json.loads(line)["predictions"][0]["label"] for line in found.splitlines()] == ["tabby cat", "espresso"]
    bad = run_cli("build-index", str(labels), "-o", str(tmp_path / "x"), "--text-model", "nope", expect=2)
    assert bad.stderr.count("\n") == 1 and "unknown text model 'nope'" in bad.stderr and INT8 in bad.stderr
    assert not (tmp_path / "x").exists()


def test_auto_keeps_the_int8_text_model_on_the_cpu(models_ready):
    from zsclf.models.registry import model_spec
    from zsclf.models.text_encoder import text_device

    fl, q = model_spec(FLOAT, "text"), model_spec(INT8, "text")
    assert text_device(q, "auto") == "cpu" and text_device(fl, "auto") == "auto"
    assert text_device(q, "cuda") == "cuda"  # asked for explicitly: tried there (and refused if CUDA is absent)


def test_batch_workers_get_the_text_model_of_the_index(models_ready, tmp_path):
    from zsclf.batch.ship import model_files
    from zsclf.core.device import SessionConfig
    from zsclf.data.labels import label_list
    from zsclf.index.store import save_index
    from zsclf.learn.builder import build_index
    from zsclf.models.text_encoder import TextEncoder
    from zsclf.pipeline.config import ClassifierConfig

    for name in (FLOAT, INT8):
        index = build_index(label_list("cat, dog"), TextEncoder.load(name, SessionConfig(device="cpu")), source="t")
        save_index(index, tmp_path / name)
        shipped = {p.name for p in model_files(ClassifierConfig(index=str(tmp_path / name)))}
        assert f"{name}.onnx" in shipped and "all-minilm-l6-v2.tokenizer.json" in shipped
        assert {FLOAT, INT8} - {name} & {n.removesuffix(".onnx") for n in shipped} == set()
