"""Reliability of `zsclf setup` (issue 16, round 2), through the real CLI: models are installed all or none,
an unwritable, full or misplaced ZSCLF_HOME and a manifest that is not JSON are one line and exit 2, an
`--index-from` index must hold the ImageNet-21K labels, and index size errors name the size."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import DEFAULT_INDEX, IMAGES, ROOT, run_cli

MODEL_FILES = ("all-minilm-l6-v2.onnx", "all-minilm-l6-v2.tokenizer.json", "efficientnet-lite0.onnx",
               "efficientnet-lite0.classifier.npz")
SMALL_LABELS = "id\tlabel\nn02123159\ttiger cat\nn07920052\tespresso\nn03773504\tmissile\n"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def snapshot(folder: Path) -> dict[str, str]:
    """Every entry under `folder`: files by sha256 and inode (a file replaced by one with the same bytes is a
    change too), folders and links by kind."""
    out = {}
    for path in sorted(folder.rglob("*")):
        key = str(path.relative_to(folder))
        out[key] = f"link {os.readlink(path)}" if path.is_symlink() else "dir" if path.is_dir() else \
            f"{_sha256(path)} inode {path.stat().st_ino}"
    return out


def env_for(home: Path) -> dict[str, str]:
    return {"ZSCLF_HOME": str(home), "ZSCLF_MODELS": "", "ZSCLF_INDEX": "", "ZSCLF_LABELS": ""}


@pytest.fixture(scope="module")
def source(tmp_path_factory, models_ready) -> Path:
    """A models folder to install from: links to the checkout's model files and a manifest with their sha256
    as they are here (the committed manifest may describe another export)."""
    folder = tmp_path_factory.mktemp("source")
    manifest = json.loads((ROOT / "models" / "manifest.json").read_text())
    for entry in manifest["models"].values():
        for key, sha in (("file", "sha256"), ("classifier", "classifier_sha256"), ("tokenizer", "tokenizer_sha256")):
            if key in entry:
                real = (ROOT / "models" / entry[key]).resolve()
                if not (folder / entry[key]).is_symlink():  # a file two models share (an int8 sibling's classifier)
                    (folder / entry[key]).symlink_to(real)
                entry[sha] = _sha256(real)
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return folder


@pytest.fixture(scope="module")
def installed(tmp_path_factory, source, default_index) -> Path:
    """A home made by `zsclf setup --from SOURCE --index-from` the default index (the 21K labels: accepted)."""
    home = tmp_path_factory.mktemp("installed") / "home"
    done = run_cli("setup", "--from", str(source), "--index-from", str(DEFAULT_INDEX), env=env_for(home), expect=0)
    assert "copied from" in done.stderr
    return home


@pytest.fixture
def home(tmp_path, installed) -> Path:
    """A copy of the installed home, for a test to change."""
    shutil.copytree(installed, tmp_path / "home", symlinks=True)
    return tmp_path / "home"


@pytest.fixture
def corrupt_source(tmp_path, source) -> Path:
    """A source whose text model, listed first, is another one that matches its manifest, and whose image
    model is damaged: copying file by file would replace the home's text model before finding the damage."""
    folder = tmp_path / "corrupt"
    shutil.copytree(source, folder, symlinks=True)
    for name, data in (("all-minilm-l6-v2.onnx", b"another text model"), ("efficientnet-lite0.onnx", b"damaged")):
        (folder / name).unlink()
        (folder / name).write_bytes(data)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["models"]["all-minilm-l6-v2"]["sha256"] = hashlib.sha256(b"another text model").hexdigest()
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


@pytest.fixture(scope="module")
def small_index(tmp_path_factory, installed) -> Path:
    """A 3-label index made with the installed models."""
    folder = tmp_path_factory.mktemp("small")
    (folder / "small.tsv").write_text(SMALL_LABELS)
    run_cli("build-index", str(folder / "small.tsv"), "-o", str(folder / "small.index"), "-q", env=env_for(installed),
            expect=0)
    return folder / "small.index"


def one_error_line(proc: subprocess.CompletedProcess, *parts: str) -> str:
    """Exit 2 with one `zsclf: error:` line holding every one of `parts`."""
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("zsclf: error: "), proc.stderr
    for part in parts:
        assert part in lines[0], lines[0]
    return lines[0]


def test_a_corrupt_model_in_the_source_changes_nothing_in_a_working_home(home, corrupt_source, tmp_path):
    before = snapshot(home)
    proc = run_cli("setup", "--force", "--from", str(corrupt_source), env=env_for(home))
    one_error_line(proc, str(corrupt_source / "efficientnet-lite0.onnx"), "sha256 differs", "nothing was installed")
    assert snapshot(home) == before  # the text model, copied before the image model was read, is not in place
    info = run_cli("info", env=env_for(home), expect=0)
    models = json.loads((ROOT / "models" / "manifest.json").read_text())["models"]
    assert info.stdout.count("sha256 ok") == len(models) and "MISMATCH" not in info.stdout, info.stdout
    (tmp_path / "labels.tsv").write_text(SMALL_LABELS)
    run_cli("build-index", str(tmp_path / "labels.tsv"), "-o", str(tmp_path / "built.index"), "-q", env=env_for(home),
            expect=0)


def test_a_refused_install_into_an_empty_home_leaves_nothing_behind(tmp_path, corrupt_source):
    empty = tmp_path / "empty"
    empty.mkdir()
    one_error_line(run_cli("setup", "--from", str(corrupt_source), env=env_for(empty)), "nothing was installed")
    assert list(empty.iterdir()) == []  # no models/, no staging folder, no temp files
    missing = tmp_path / "new" / "home"
    one_error_line(run_cli("setup", "--from", str(corrupt_source), env=env_for(missing)), "nothing was installed")
    assert not (tmp_path / "new").exists()  # the folders setup made for it are gone again


def test_a_failed_rename_puts_back_the_models_already_replaced(home, source):
    """A folder where a model file goes makes the swap fail after the text model was renamed into place: it is
    put back (the source's files are the same bytes, so the inode tells whether it was)."""
    text = home / "models" / "all-minilm-l6-v2.onnx"
    inode = text.stat().st_ino
    (home / "models" / "efficientnet-lite0.classifier.npz").unlink()
    (home / "models" / "efficientnet-lite0.classifier.npz").mkdir()
    (home / "models" / "efficientnet-lite0.classifier.npz" / "keep").write_text("not ours")
    before = snapshot(home)
    proc = run_cli("setup", "--force", "--from", str(source), "--index-from", str(DEFAULT_INDEX), env=env_for(home))
    one_error_line(proc, str(home / "models"), "cannot install the models", "nothing was installed")
    assert snapshot(home) == before and text.stat().st_ino == inode
    assert not [p for p in home.iterdir() if p.name.startswith(".models.setup-")]


def test_force_replaces_the_models_and_deletes_only_its_own_stale_staging_folders(home, source):
    stale = home / ".models.setup-0123abcd.tmp"
    (stale / ".replaced").mkdir(parents=True)
    (stale / "all-minilm-l6-v2.onnx").write_bytes(b"half")
    lookalike = home / ".models.setup-89abcdef.tmp"
    (lookalike / "sub").mkdir(parents=True)  # a folder inside: not what setup leaves
    (home / "models" / "keep-me.txt").write_text("the user's")
    old = (home / "models" / "all-minilm-l6-v2.onnx").stat().st_ino
    run_cli("setup", "--force", "--from", str(source), "--index-from", str(DEFAULT_INDEX), env=env_for(home), expect=0)
    assert not stale.exists() and (lookalike / "sub").is_dir()
    assert (home / "models" / "keep-me.txt").read_text() == "the user's"
    assert (home / "models" / "all-minilm-l6-v2.onnx").stat().st_ino != old  # replaced, not written in place
    models = json.loads((ROOT / "models" / "manifest.json").read_text())["models"]
    assert run_cli("info", env=env_for(home), expect=0).stdout.count("sha256 ok") == len(models)


def test_zsclf_home_that_is_a_file_is_one_line(tmp_path, source):
    home = tmp_path / "home"
    home.write_text("a file\n")
    one_error_line(run_cli("setup", "--from", str(source), env=env_for(home)), str(home), "is a file, not a folder",
                   "ZSCLF_HOME")
    assert home.read_text() == "a file\n" and sorted(p.name for p in tmp_path.iterdir()) == ["home"]


def _edit(manifest: dict, change) -> str:
    change(manifest)
    return json.dumps(manifest)


BAD_MANIFESTS = {
    "not JSON": (lambda m: "{not json", "manifest.json: the model manifest is not valid JSON"),
    "no default": (lambda m: _edit(m, lambda d: d["models"].pop("efficientnet-lite0")),
                   "manifest.json: its default model efficientnet-lite0 is not among its models"),
    "a path": (lambda m: _edit(m, lambda d: d["models"]["all-minilm-l6-v2"].update(file="../escape.onnx")),
               "names file '../escape.onnx', which is not a plain file name"),
}


@pytest.mark.parametrize("case", sorted(BAD_MANIFESTS))
def test_a_bad_manifest_is_one_line_and_installs_nothing(tmp_path, source, case):
    bad = tmp_path / "bad"
    shutil.copytree(source, bad, symlinks=True)
    make, message = BAD_MANIFESTS[case]
    (bad / "manifest.json").write_text(make(json.loads((source / "manifest.json").read_text())))
    one_error_line(run_cli("setup", "--from", str(bad), env=env_for(tmp_path / "home")), message,
                   "nothing was installed" if case != "not JSON" else str(bad / "manifest.json"))
    assert not (tmp_path / "home").exists()


@pytest.fixture
def mount(tmp_path) -> Iterator:
    """mount(options) -> a fresh tmpfs folder (root only; skipped where mounting is not allowed)."""
    mounted: list[Path] = []

    def make(options: str) -> Path:
        folder = tmp_path / f"mnt{len(mounted)}"
        folder.mkdir()
        proc = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True,
                              text=True)
        if proc.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({proc.stderr.strip() or proc.returncode})")
        mounted.append(folder)
        return folder

    yield make
    for folder in mounted:
        subprocess.run(["umount", str(folder)], check=True)


def test_a_full_zsclf_home_is_one_line_and_left_empty(mount, source):
    full = mount("size=1m")
    for home in (full, full / "new" / "home"):
        one_error_line(run_cli("setup", "--from", str(source), env=env_for(home)), str(home / "models"),
                       "No space left on device", "nothing was installed")
        assert list(full.iterdir()) == []


def test_a_read_only_zsclf_home_is_one_line(mount, source):
    read_only = mount("ro,size=1m")
    for home in (read_only, read_only / "home"):
        one_error_line(run_cli("setup", "--from", str(source), env=env_for(home)), str(home), "Read-only file system")
    assert list(read_only.iterdir()) == []


def test_index_from_refuses_an_index_that_is_not_the_imagenet21k_set(home, tmp_path, source, small_index):
    before = snapshot(home)
    proc = run_cli("setup", "--force", "--from", str(source), "--index-from", str(small_index), env=env_for(home))
    one_error_line(proc, str(small_index), "3 labels", "not the ImageNet-21K set", "nothing was changed")
    assert snapshot(home) == before
    empty = tmp_path / "new"
    proc = run_cli("setup", "--from", str(source), "--index-from", str(small_index), env=env_for(empty))
    one_error_line(proc, "not the ImageNet-21K set")
    assert not empty.exists()


def test_an_index_file_longer_than_its_meta_says_names_both_sizes(tmp_path, installed, small_index):
    copy = tmp_path / "idx"
    shutil.copytree(small_index, copy)
    version = copy / (copy / "CURRENT").read_text().strip()
    meta = json.loads((version / "meta.json").read_text())
    size = meta["files"]["labels.tsv"]["bytes"]
    with open(version / "labels.tsv", "ab") as fh:
        fh.write(b"n00000000\textra\n")
    proc = run_cli("predict", "--index", str(copy), str(IMAGES / "chelsea.png"), env=env_for(installed))
    one_error_line(proc, f"labels.tsv: more than {size} bytes, meta.json says {size} (truncated or corrupt)")
    with open(version / "labels.tsv", "r+b") as fh:
        fh.truncate(size - 3)
    proc = run_cli("predict", "--index", str(copy), str(IMAGES / "chelsea.png"), env=env_for(installed))
    one_error_line(proc, f"labels.tsv: {size - 3} bytes, meta.json says {size} (truncated or corrupt)")
