"""Shared fixtures: real models, real indexes, real photos (skipped with a reason when absent)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
IMAGES = ROOT / "tests" / "images"
SHARED = Path(os.environ.get("ZSCLF_SHARED_DATA", ROOT.parent / "shared" / "data"))
DEFAULT_INDEX = ROOT / "indexes" / "imagenet21k"


def needs_shared(sub: str = "") -> pytest.MarkDecorator:
    """Skip unless ../shared/data (or a folder in it) is there."""
    path = SHARED / sub
    return pytest.mark.skipif(not path.exists(), reason=f"evaluation data {path} is absent")


def run_cli(*args: str, stdin: str | None = None, env: dict | None = None,
            expect: int | None = None) -> subprocess.CompletedProcess:
    """Run the real `zsclf` entry point in a subprocess (stdout is a pipe, so output is JSON Lines);
    with `expect`, assert the exit code."""
    proc = subprocess.run([sys.executable, "-m", "zsclf.cli", *args], input=stdin, capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=600)
    if expect is not None:
        assert proc.returncode == expect, f"exit {proc.returncode}, expected {expect}: {proc.stderr}"
    return proc


@pytest.fixture(scope="session")
def models_ready() -> None:
    from zsclf.errors import ZsclfError
    from zsclf.models.registry import model_spec

    try:
        model_spec(kind="image")
        model_spec(kind="text")
    except ZsclfError as exc:
        pytest.skip(f"models not exported ({exc}); run `make setup`")


@pytest.fixture(scope="session")
def default_index(models_ready) -> Path:
    if not (DEFAULT_INDEX / "CURRENT").exists():
        pytest.skip("default ImageNet-21K index not built (or built by an older zsclf); run `make setup`")
    return DEFAULT_INDEX


@pytest.fixture(scope="session")
def text_encoder(models_ready):
    from zsclf import TextEncoder

    return TextEncoder.load()


@pytest.fixture(scope="session")
def image_encoder(models_ready):
    from zsclf import ImageEncoder

    return ImageEncoder.load()


@pytest.fixture(scope="session")
def test_models_dir(tmp_path_factory) -> Path:
    """Small random bring-your-own models, made once per session by tools/make_test_models.py:
    DIR/timm-21k, DIR/clip-rn, DIR/clip-vit, each with its zsclf-model.json (skipped without timm/open_clip)."""
    try:
        from zsclf.install.foreign import import_timm_and_open_clip

        import_timm_and_open_clip()
    except ImportError as exc:
        pytest.skip(f"timm / open_clip not installed ({exc}): pip install -e '.[export,foreign]'")
    sys.path.insert(0, str(ROOT / "tools"))
    import make_test_models

    root = tmp_path_factory.mktemp("test-models")
    make_test_models.make_all(root)
    return root
