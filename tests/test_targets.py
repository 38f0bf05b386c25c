"""Output targets (`build-index -o`, `train -o`) are checked before any work: one line, exit 2, nothing
left behind. The commands run without models here, so an error about the target proves the check came
first (had the embedding started, the error would be about the missing models)."""

from __future__ import annotations

import json
import os
import subprocess

import numpy as np
import pytest

from conftest import run_cli
from index_tools import foreign_app, snapshot, tag_of, tagged_index
from zsclf.core.targets import check_output_file, check_output_folder
from zsclf.errors import ZsclfError
from zsclf.index.store import current_version, load_index, save_index

ROOT_USER = os.geteuid() == 0


def refused(tmp_path, *args: str, needle: str) -> str:
    """Run a command that must stop at its -o check: exit 2, one line with `needle`, nothing changed."""
    labels = tmp_path / "labels.txt"
    if not labels.exists():
        labels.write_text("cat\ndog\n")
    before = snapshot(tmp_path)
    proc = run_cli(*args, env={"ZSCLF_MODELS": str(tmp_path / "no-models")})
    assert proc.returncode == 2, proc.stderr
    assert needle in proc.stderr and "model" not in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert snapshot(tmp_path) == before, "something was left behind"
    return proc.stderr


def build(tmp_path, out) -> str:
    return refused(tmp_path, "build-index", str(tmp_path / "labels.txt"), "-o", str(out), needle=str(out))


def test_a_foreign_folder_is_refused_and_left_byte_for_byte(tmp_path):
    foreign_app(tmp_path / "app")
    err = build(tmp_path, tmp_path / "app")
    assert "exists and is not a zsclf index (it holds 'src'/" in err and "nothing was changed" in err


def test_parent_is_a_file(tmp_path):
    (tmp_path / "file.txt").write_text("x")
    assert "file.txt is a file, not a folder" in build(tmp_path, tmp_path / "file.txt" / "idx")


def test_target_is_a_file(tmp_path):
    (tmp_path / "file.txt").write_text("x")
    assert "is a file, not a folder" in build(tmp_path, tmp_path / "file.txt")


def test_dangling_symlink(tmp_path):
    (tmp_path / "link").symlink_to(tmp_path / "gone")
    assert "is a symlink to" in build(tmp_path, tmp_path / "link") and "does not exist" in (
        refused(tmp_path, "train", str(tmp_path / "photos"), "-o", str(tmp_path / "link"), needle="link"))


def test_proc_is_not_writable(tmp_path):
    assert "cannot write the index in /proc" in build(tmp_path, "/proc/x")


@pytest.mark.skipif(ROOT_USER, reason="root writes in read-only folders (the read-only mount test covers root)")
def test_read_only_parent(tmp_path):
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro").chmod(0o555)
    try:
        assert "permission denied" in build(tmp_path, tmp_path / "ro" / "idx")
    finally:
        (tmp_path / "ro").chmod(0o755)


def test_read_only_mount(tmp_path):
    (tmp_path / "ro").mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(tmp_path / "ro")],
                          capture_output=True)
    if proc.returncode:
        pytest.skip(f"cannot mount a read-only tmpfs here: {proc.stderr.decode().strip()}")
    try:
        assert "Read-only file system" in build(tmp_path, tmp_path / "ro" / "sub" / "idx")
    finally:
        subprocess.run(["umount", str(tmp_path / "ro")], check=True)


def test_train_onto_an_existing_folder(tmp_path):
    (tmp_path / "out").mkdir()
    err = refused(tmp_path, "train", str(tmp_path / "photos"), "-o", str(tmp_path / "out"), needle="out")
    assert "is a directory, not a file; give a file name" in err


def test_train_onto_a_fifo(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    err = refused(tmp_path, "train", str(tmp_path / "photos"), "-o", str(tmp_path / "pipe"), needle="pipe")
    assert "FIFO" in err


def test_a_symlink_to_an_index_is_followed(tmp_path):
    save_index(tagged_index(1, 5), tmp_path / "real")
    (tmp_path / "link").symlink_to("real")
    assert check_output_folder(tmp_path / "link", "index") == ((tmp_path / "real").resolve(), True)
    save_index(tagged_index(2, 6), tmp_path / "link")
    assert (tmp_path / "link").is_symlink() and os.readlink(tmp_path / "link") == "real"
    assert tag_of(load_index(tmp_path / "real")) == 2
    assert sorted(os.listdir(tmp_path)) == ["link", "real"]


def test_a_symlink_to_a_file_is_followed(tmp_path):
    from zsclf.models.registry import ModelRef
    from zsclf.pipeline.projection_file import ProjectionMeta, load_projection, save_projection

    (tmp_path / "p.npz").write_text("old")
    (tmp_path / "link.npz").symlink_to("p.npz")
    target = check_output_file(tmp_path / "link.npz", "projection")
    assert target == (tmp_path / "p.npz").resolve()
    meta = ProjectionMeta(kind="devise", space="text", template="name", image_encoder=ModelRef("i", "a", 4),
                          text_encoder=ModelRef("t", "b", 3))
    save_projection(target, np.ones((3, 4), dtype=np.float32), meta)
    assert (tmp_path / "link.npz").is_symlink() and load_projection(tmp_path / "link.npz").matrix.shape == (3, 4)
    assert sorted(os.listdir(tmp_path)) == ["link.npz", "p.npz"]


def test_a_missing_file_target_needs_a_writable_folder(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(ZsclfError, match="is a file, not a folder"):
        check_output_file(tmp_path / "f" / "p.npz", "projection")
    assert check_output_file(tmp_path / "new" / "p.npz", "projection") == (tmp_path / "new" / "p.npz").resolve()
    assert os.listdir(tmp_path) == ["f"]  # the writability probe leaves nothing


def test_build_index_cli_follows_a_symlink_to_an_index(models_ready, tmp_path):
    labels = tmp_path / "l.txt"
    labels.write_text("cat\ndog\n")
    run_cli("build-index", str(labels), "-o", str(tmp_path / "real"), "-q", expect=0)
    first = current_version(tmp_path / "real")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    labels.write_text("cat\ndog\nbird\n")
    run_cli("build-index", str(labels), "-o", str(tmp_path / "link"), "-q", expect=0)
    assert (tmp_path / "link").is_symlink() and current_version(tmp_path / "real") != first
    meta = json.loads((current_version(tmp_path / "real") / "meta.json").read_text())
    assert meta["count"] == 3 and meta["format"] == 3  # 3: a label-prior corrected index records its queries


def test_build_index_cli_gives_up_on_a_locked_index_with_a_clear_message(models_ready, tmp_path):
    from zsclf.core.locking import folder_lock

    labels = tmp_path / "l.txt"
    labels.write_text("cat\ndog\n")
    save_index(tagged_index(1, 5), tmp_path / "idx")
    with folder_lock(tmp_path / "idx", 1, "busy", create=False):
        proc = run_cli("build-index", str(labels), "-o", str(tmp_path / "idx"), "-q", env={"ZSCLF_LOCK_WAIT": "0.5"})
    assert proc.returncode == 2 and "another zsclf is writing this index (waited 0.5 s)" in proc.stderr
    assert tag_of(load_index(tmp_path / "idx")) == 1
