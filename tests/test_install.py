"""Installing where there is no checkout: packaged label files, `zsclf setup` (copy or export the models,
copy or build the default index) and a wheel built from this repository, installed in a fresh venv."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import DEFAULT_INDEX, IMAGES, ROOT
from zsclf.errors import ZsclfError


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """An empty ZSCLF_HOME (and no other location variables)."""
    for name in ("ZSCLF_MODELS", "ZSCLF_INDEX", "ZSCLF_LABELS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ZSCLF_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_label_files_ship_inside_the_package(home):
    from zsclf.core import paths

    assert paths.PACKAGED_LABELS.is_dir() and (paths.PACKAGED_LABELS / "imagenet21k.tsv").is_file()
    assert paths.labels_dir() == paths.PACKAGED_LABELS  # the home has no labels/ of its own
    (home / "labels").mkdir(parents=True)
    assert paths.labels_dir() == home / "labels"


def test_setup_copies_models_checks_them_and_builds_the_index(home, tmp_path, monkeypatch, models_ready):
    from zsclf.install import home as setup

    small = tmp_path / "labels.tsv"
    small.write_text("id\tlabel\nn02123159\ttiger cat\nn07920052\tespresso\nn03773504\tmissile\n")
    monkeypatch.setattr("zsclf.data.labels.imagenet21k_path", lambda: small)
    outcome = setup.setup_home(models_from=f"file://{ROOT / 'models'}")  # through pyarrow.fs, as s3:// would be
    assert outcome.models.startswith("copied from file://") and outcome.index == "built"
    assert setup.models_problem(home / "models") is None and setup.index_problem(home / "indexes/imagenet21k") is None
    again = setup.setup_home()
    assert (again.models, again.index) == ("present", "present")
    from zsclf.pipeline.classifier import Classifier

    (result,) = Classifier.load().predict_paths([str(IMAGES / "coffee.png")], top_k=1)
    assert result.predictions[0].label == "espresso"
    bad = tmp_path / "bad-models"
    shutil.copytree(ROOT / "models", bad, ignore=shutil.ignore_patterns("cache", "*.onnx"))
    (bad / "efficientnet-lite0.onnx").write_bytes(b"tampered")
    (bad / "all-minilm-l6-v2.onnx").write_bytes(b"tampered")
    with pytest.raises(ZsclfError, match="sha256 differs"):
        setup.setup_home(models_from=str(bad), force=True)


def test_setup_without_a_source_or_the_export_extra_says_what_to_do(home, monkeypatch):
    from zsclf.install import home as setup

    monkeypatch.setattr(setup, "missing_export_module", lambda: "torch")
    with pytest.raises(ZsclfError, match=r"--from DIR\|URI .*zsclf\[export\]"):
        setup.setup_home()


@pytest.mark.slow
def test_a_wheel_installs_and_runs_setup_and_predict_without_the_checkout(tmp_path, default_index):
    """Build a wheel from a copy of the sources, install it (no deps: they come from this interpreter's
    site-packages through a .pth file) in a fresh venv, then `zsclf predict` (fails: nothing installed),
    `zsclf setup --from models/ --index-from …` and `zsclf predict` again, all outside the checkout."""
    if importlib.util.find_spec("build") is None:
        pytest.skip("the `build` package (dev extra) is not installed")
    source = tmp_path / "source"
    shutil.copytree(ROOT / "src" / "zsclf", source / "src" / "zsclf", symlinks=True,
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "labels", source / "labels")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp_path / "dist"),
                    str(source)], check=True, capture_output=True, timeout=300)
    (wheel,) = (tmp_path / "dist").glob("zsclf-*.whl")
    shipped = {name.rsplit("/", 1)[-1] for name in zipfile.ZipFile(wheel).namelist() if "/resources/labels/" in name}
    assert {"imagenet21k.tsv", "hedging-imagenet21k.json", "photo_prior.tsv", "wordnet_names.tsv"} <= shipped
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    (purelib,) = venv.glob("lib/python*/site-packages")
    (purelib / "_zsclf_test_deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--no-deps",
                    "--no-index", "--quiet", str(wheel)], check=True, capture_output=True, timeout=300)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZSCLF_") and k != "PYTHONPATH"}
    env.update(ZSCLF_HOME=str(tmp_path / "home"), HOME=str(tmp_path / "user"))

    def zsclf(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(venv / "bin" / "zsclf"), *args], capture_output=True, text=True, env=env,
                              cwd=tmp_path, timeout=600)

    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import zsclf; print(zsclf.__file__)"],
                           capture_output=True, text=True, env=env, cwd=tmp_path, check=True).stdout
    assert where.startswith(str(purelib)), where
    image = str(IMAGES / "chelsea.png")
    before = zsclf("predict", image)
    assert before.returncode == 2 and "zsclf setup" in before.stderr, before.stderr
    done = zsclf("setup", "--from", str(ROOT / "models"), "--index-from", str(DEFAULT_INDEX))
    assert done.returncode == 0, done.stderr
    after = zsclf("predict", image, "--format", "jsonl")
    assert after.returncode == 0, after.stderr
    assert json.loads(after.stdout)["predictions"][0]["label"] == "tiger cat"
    (tmp_path / "captions.txt").write_text("a cat sleeping on a couch\na rocket lifting off\n")
    assert zsclf("build-index", "captions.txt", "--sentences", "-q").returncode == 0  # the photo prior is installed
    ranked = zsclf("predict", image, "--index", "captions.index", "--format", "jsonl")
    assert json.loads(ranked.stdout)["predictions"][0]["label"] == "a cat sleeping on a couch", ranked.stderr
    assert (tmp_path / "home" / "models" / "manifest.json").is_file()
    assert not list((tmp_path / "user").rglob("zsclf"))  # everything went to ZSCLF_HOME
