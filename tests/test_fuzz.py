"""Bounded property tests of everything that parses user files: whatever the bytes, only the project's own
error type escapes (ImageError for images, ZsclfError for label files, manifests and metadata)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest

hypothesis = pytest.importorskip("hypothesis", reason="property tests need hypothesis (the dev extra)")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from conftest import IMAGES  # noqa: E402
from zsclf.data.dataset import read_dataset  # noqa: E402
from zsclf.data.labels import read_labels  # noqa: E402
from zsclf.errors import ImageError, ZsclfError  # noqa: E402
from zsclf.index.store import read_meta  # noqa: E402
from zsclf.models.registry import Preprocess  # noqa: E402
from zsclf.pipeline.images import load_and_preprocess  # noqa: E402

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow],
                derandomize=True)  # reproducible in CI; a few seconds per property
SEEDS = [(IMAGES / name).read_bytes() for name in ("chelsea.png", "rocket.jpg")]
SMALL = Preprocess(size=32, crop_fraction=0.875)


def write(data: bytes, suffix: str) -> Path:
    fd, name = tempfile.mkstemp(suffix=suffix)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    return Path(name)


def mutate(seed: bytes, edits: list[tuple[int, int]], cut: int) -> bytes:
    data = bytearray(seed[: max(8, len(seed) - cut)])
    for position, value in edits:
        data[position % len(data)] = value
    return bytes(data)


@FUZZ
@given(seed=st.sampled_from(SEEDS), edits=st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 255)),
                                                    max_size=20), cut=st.integers(0, 4000))
def test_damaged_images_give_an_image_error_or_pixels(seed, edits, cut):
    path = write(mutate(seed, edits, cut), ".img")
    try:
        pixels = load_and_preprocess(path, SMALL)
        assert pixels.shape == (32, 32, 3)
    except ImageError as exc:
        assert str(path) in str(exc) and "\n" not in str(exc)
    finally:
        path.unlink()


@FUZZ
@given(data=st.binary(max_size=300))
def test_random_bytes_are_never_an_image_crash(data):
    path = write(data, ".jpg")
    try:
        load_and_preprocess(path, SMALL)
    except ImageError:
        pass
    finally:
        path.unlink()


TEXT = st.lists(st.sampled_from(list('ab "\t,\r\n\x0c\ufeffé\\{}') + ["label", "id", "gloss", "path", "x.jpg"]),
                max_size=80).map("".join)


@FUZZ
@given(text=TEXT, suffix=st.sampled_from([".txt", ".tsv", ".csv"]), encode=st.sampled_from(["utf-8", "latin-1"]))
def test_label_files_parse_or_raise_zsclf_error(text, suffix, encode):
    path = write(text.encode(encode, errors="replace"), suffix)
    try:
        labels = read_labels(path)
        assert len(labels) > 0 and all(name.strip() == name and name for name in labels.names)
    except ZsclfError as exc:
        assert "\n" not in str(exc)
    finally:
        path.unlink()


@FUZZ
@given(text=TEXT, suffix=st.sampled_from([".tsv", ".csv"]))
def test_manifests_parse_or_raise_zsclf_error(text, suffix):
    path = write(text.encode(), suffix)
    try:
        samples = read_dataset(path)
        assert all(s.path and (s.label or s.id) for s in samples)
    except ZsclfError as exc:
        assert "\n" not in str(exc)
    finally:
        path.unlink()


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(
                        ["format", "kind", "dim", "count", "space", "template", "text_encoder", "name", "sha256",
                         "metric", "photos", "calibration", "visual_transform", "x"]), inner, max_size=8),
                    max_leaves=20)
VALID = {"format": 1, "kind": "flat", "metric": "inner_product", "dim": 4, "count": 2, "space": "text",
         "template": "gloss", "text_encoder": {"name": "t", "sha256": "ab", "dim": 4}}


@FUZZ
@given(patch=st.dictionaries(st.sampled_from(sorted(VALID) + ["photos", "calibration", "visual_transform"]), JSON,
                             max_size=4), raw=st.booleans(), noise=st.binary(max_size=40))
def test_index_metadata_loads_or_raises_zsclf_error(tmp_path_factory, patch, raw, noise):
    folder = tmp_path_factory.mktemp("meta")
    text = noise if raw else json.dumps({**VALID, **patch}).encode()
    (folder / "meta.json").write_bytes(text)
    try:
        read_meta(folder)
    except ZsclfError as exc:
        assert "\n" not in str(exc)


def test_a_jpeg_that_stops_early_is_an_image_error():
    truncated = write(SEEDS[1][: len(SEEDS[1]) // 2], ".jpg")
    try:
        with pytest.raises(ImageError, match="cannot decode|truncated|not an image"):
            load_and_preprocess(truncated, SMALL)
    finally:
        truncated.unlink()
