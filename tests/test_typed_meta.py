"""Typed metadata: every missing or mistyped field is one clear error naming the file and the field."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest

from zsclf.core import typed_json
from zsclf.errors import ZsclfError
from zsclf.index.meta import IndexMeta
from zsclf.index.store import read_meta_file
from zsclf.models.registry import ModelRef, load_manifest

GOOD = {"format": 2, "kind": "flat", "metric": "inner_product", "dim": 4, "count": 2, "space": "text",
        "template": "gloss", "text_encoder": {"name": "t", "sha256": "ab", "dim": 4},
        "files": {"index.faiss": {"bytes": 77, "crc32": "0a1b2c3d"}, "labels.tsv": {"bytes": 20, "crc32": "01234567"}}}


@dataclass(frozen=True)
class Inner:
    a: int
    b: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class Outer:
    name: str
    inner: Inner
    mode: str = field(default="x", metadata={"choices": ("x", "y")})
    maybe: Inner | None = None
    table: dict[str, Inner] = field(default_factory=dict)


def test_round_trip_and_nested_types():
    data = {"name": "n", "inner": {"a": 1, "b": [1, 2.5]}, "maybe": None, "table": {"k": {"a": 2}}, "extra": 1}
    obj = typed_json.load(Outer, data, "f.json")
    assert obj == Outer("n", Inner(1, [1.0, 2.5]), table={"k": Inner(2)})
    assert typed_json.load(Outer, typed_json.dump(obj), "f.json") == obj
    assert "maybe" not in typed_json.dump(obj)


@pytest.mark.parametrize("data,needle", [
    ({"inner": {"a": 1}}, "f.json: field 'name' is missing"),
    ({"name": 3, "inner": {"a": 1}}, "field 'name' should be a string, not an integer (3)"),
    ({"name": "n", "inner": {"a": True}}, "field 'inner.a' should be an integer, not true or false"),
    ({"name": "n", "inner": {"a": 1, "b": ["x"]}}, "field 'inner.b[0]' should be a number"),
    ({"name": "n", "inner": []}, "field 'inner' should be an object, not a list"),
    ({"name": "n", "inner": {"a": 1}, "mode": "z"}, "field 'mode' is 'z', expected one of x, y"),
    ({"name": "n", "inner": {"a": 1}, "table": {"k": {}}}, "field 'table.k.a' is missing"),
    ([1, 2], "f.json: the top level should be an object, not a list"),
])
def test_problems_name_the_file_and_the_field(data, needle):
    with pytest.raises(ZsclfError) as caught:
        typed_json.load(Outer, data, "f.json")
    assert needle in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize("change,needle", [
    (lambda m: m.pop("template"), "field 'template' is missing"),
    (lambda m: m.update(dim="4"), "field 'dim' should be an integer"),
    (lambda m: m.update(kind="ivf"), "field 'kind' is 'ivf', expected one of flat, hnsw"),
    (lambda m: m["text_encoder"].pop("sha256"), "field 'text_encoder.sha256' is missing"),
    (lambda m: m.update(visual_transform="cube"), "expected one of centre, sqrt"),
    (lambda m: m["files"]["labels.tsv"].pop("crc32"), "field 'files.labels.tsv.crc32' is missing"),
    (lambda m: m["files"].pop("labels.tsv"), "field 'files.labels.tsv' is missing"),
])
def test_index_meta_refuses_damaged_fields(tmp_path, change, needle):
    meta = json.loads(json.dumps(GOOD))
    change(meta)
    (tmp_path / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ZsclfError, match=needle) as caught:
        read_meta_file(tmp_path / "meta.json")
    assert str(tmp_path / "meta.json") in str(caught.value)


def test_index_meta_reads_the_good_one_and_deep_nesting_is_an_error(tmp_path):
    (tmp_path / "meta.json").write_text(json.dumps(GOOD))
    meta = read_meta_file(tmp_path / "meta.json")
    assert isinstance(meta, IndexMeta) and meta.text_encoder == ModelRef("t", "ab", 4)
    assert meta.files is not None and meta.files["index.faiss"].bytes == 77
    (tmp_path / "meta.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ZsclfError, match="nested too deeply"):
        read_meta_file(tmp_path / "meta.json")


def test_manifest_without_a_default_model_is_a_clear_error(tmp_path):
    (tmp_path / "manifest.json").write_text(json.dumps({"format": 1, "models": {}, "default_text_model": "t"}))
    with pytest.raises(ZsclfError, match="field 'default_image_model' is missing"):
        load_manifest(tmp_path)
