"""Faults while an index is written: kill -9 at every publish step, concurrent writers, a reader looping
while another process publishes, a full disk, a writer that keeps the lock."""

from __future__ import annotations

import errno
import os
import subprocess
import time
from pathlib import Path

import pytest

from index_tools import publisher, snapshot, tag_of, tagged_index, write_legacy
from zsclf.core.locking import folder_lock
from zsclf.errors import ZsclfError
from zsclf.index import publish as publish_module
from zsclf.index.layout import CURRENT, VERSION, survey
from zsclf.index.publish import STEPS
from zsclf.index.store import current_version, load_index, save_index

BEFORE_SWAP = STEPS[:STEPS.index("current-swapped")]


def assert_tidy(folder: Path, versions: int = 2) -> None:
    """Only CURRENT and at most `versions` versions in the folder; nothing beside it in its parent."""
    found = survey(folder)
    assert found.ours and not found.temps and not found.legacy, found
    assert 1 <= len(found.versions) <= versions and found.current in found.versions
    assert sorted(os.listdir(folder.parent)) == [folder.name]


@pytest.mark.parametrize("start", ["index", "format-1 index", "nothing"])
@pytest.mark.parametrize("step", STEPS)
def test_kill_at_each_publish_step_leaves_old_or_new_whole(tmp_path, step, start):
    folder = tmp_path / "idx"
    old = {"index": 1, "format-1 index": None, "nothing": None}[start]
    if start == "index":
        save_index(tagged_index(1, 10), folder)
    elif start == "format-1 index":
        write_legacy(folder)
    proc = publisher(folder, first=2, crash_at=step)
    proc.communicate(timeout=60)
    assert proc.returncode == -9, "the crash hook did not fire"
    if step in BEFORE_SWAP:
        if old is None:
            with pytest.raises(ZsclfError, match="older zsclf|no CURRENT|no index there"):
                load_index(folder)
        else:
            assert tag_of(load_index(folder)) == old
    else:
        assert tag_of(load_index(folder)) == 2
    save_index(tagged_index(3, 9), folder)  # the next build cleans up after the crash
    assert tag_of(load_index(folder)) == 3
    assert_tidy(folder)


def test_concurrent_first_builds_to_one_folder_all_succeed(tmp_path):
    for round_ in range(3):
        folder = tmp_path / f"r{round_}" / "idx"
        procs = [publisher(folder, first=10 * b, count=2) for b in range(1, 4)]
        for proc in procs:
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
        assert tag_of(load_index(folder)) in {11, 21, 31}
        assert_tidy(folder)


def test_a_second_writer_waits_for_the_first(tmp_path):
    folder = tmp_path / "idx"
    save_index(tagged_index(1, 5), folder)
    with folder_lock(folder, 1, "busy", create=False):
        procs = [publisher(folder, first=10 * b) for b in (1, 2)]
        time.sleep(1.5)
        assert all(p.poll() is None for p in procs), "writers did not wait for the lock"
        assert tag_of(load_index(folder)) == 1
    for proc in procs:
        proc.communicate(timeout=60)
        assert proc.returncode == 0
    assert tag_of(load_index(folder)) in {10, 20}
    assert_tidy(folder)


def test_a_writer_gives_up_after_its_wait_with_a_clear_message(tmp_path):
    folder = tmp_path / "idx"
    save_index(tagged_index(1, 5), folder)
    before = snapshot(tmp_path)
    with folder_lock(folder, 1, "busy", create=False):
        started = time.monotonic()
        with pytest.raises(ZsclfError, match="another zsclf is writing this index .*waited 0.3 s"):
            save_index(tagged_index(2, 5), folder, wait=0.3)
        assert time.monotonic() - started < 5
    assert snapshot(tmp_path) == before


def test_loads_never_fail_or_mix_builds_while_another_process_publishes(tmp_path):
    folder = tmp_path / "idx"
    save_index(tagged_index(1, 5), folder)
    proc = publisher(folder, first=2, count=10_000, seconds=2.5)  # 2.5 s of publishing once it has started
    seen, loads = set(), 0
    give_up = time.monotonic() + 60
    try:
        while proc.poll() is None and time.monotonic() < give_up:
            seen.add(tag_of(load_index(folder)))  # raises on a failed or mixed load
            loads += 1
    finally:
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    last = int(out)
    assert tag_of(load_index(folder)) == last and len(seen) >= 3, (loads, sorted(seen))
    assert_tidy(folder)


def full_disk(tmp_path: Path, size: str = "256k") -> Path:
    """A tiny tmpfs (root only); skipped where mounting is not allowed."""
    mount = tmp_path / "small"
    mount.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)], capture_output=True)
    if proc.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.decode().strip()}")
    return mount


@pytest.fixture
def small_disk(tmp_path):
    mount = full_disk(tmp_path)
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


def test_a_full_disk_is_one_error_and_leaves_the_old_index_and_nothing_else(small_disk):
    folder = small_disk / "idx"
    save_index(tagged_index(1, 5), folder)
    before = snapshot(small_disk)
    with pytest.raises(ZsclfError, match="cannot write the index: No space left on device; nothing was changed"):
        save_index(tagged_index(2, 20_000), folder)  # 640 KB of vectors
    assert snapshot(small_disk) == before and tag_of(load_index(folder)) == 1


def test_a_full_disk_on_a_first_build_leaves_no_folders(small_disk):
    with pytest.raises(ZsclfError, match="No space left on device"):
        save_index(tagged_index(2, 20_000), small_disk / "a" / "b" / "idx")
    assert os.listdir(small_disk) == []


def test_a_failing_write_is_one_error_without_strays(tmp_path, monkeypatch):
    save_index(tagged_index(1, 5), tmp_path / "idx")
    before = snapshot(tmp_path)
    real_write = publish_module.write_new_file

    def fail_on_labels(path, data):
        if path.name == "labels.tsv":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_write(path, data)

    monkeypatch.setattr(publish_module, "write_new_file", fail_on_labels)
    with pytest.raises(ZsclfError, match="No space left on device; nothing was changed"):
        save_index(tagged_index(2, 5), tmp_path / "idx")
    with pytest.raises(ZsclfError, match="No space left on device"):
        save_index(tagged_index(2, 5), tmp_path / "new" / "idx")
    assert snapshot(tmp_path) == before


def test_versions_are_named_by_time_and_never_reused(tmp_path):
    names = set()
    for tag in range(5):
        save_index(tagged_index(tag, 3), tmp_path / "idx")
        names.add(current_version(tmp_path / "idx").name)
    assert len(names) == 5 and all(VERSION.fullmatch(n) for n in names)
    assert (tmp_path / "idx" / CURRENT).read_text().strip() in names
