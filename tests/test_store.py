"""The index folder on disk: what may be replaced, damage detected at load (checksums, NaN, file kinds),
readers retrying past a concurrent publish. Library calls on tiny indexes; a few through the real CLI."""

from __future__ import annotations

import json
import os
import signal
import stat
from contextlib import contextmanager

import numpy as np
import pytest

from conftest import IMAGES, run_cli
from index_tools import fix_checksums, foreign_app, snapshot, tag_of, tagged_index, write_legacy
from zsclf.errors import ZsclfError
from zsclf.index import store
from zsclf.index.layout import CURRENT, INDEX_FILE, LABELS_FILE, META_FILE, survey
from zsclf.index.publish import check_index_target
from zsclf.index.store import current_version, load_index, read_meta, save_index

ROOT_USER = os.geteuid() == 0


@contextmanager
def no_hang(seconds: int = 10):
    """Fail instead of hanging (a FIFO opened for reading blocks until a writer comes)."""
    def expired(*_):
        raise TimeoutError(f"still blocked after {seconds} s")

    old = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def refused_untouched(tmp_path, folder, needle):
    """save_index(folder) must fail with `needle` and change nothing under tmp_path."""
    before = snapshot(tmp_path)
    with pytest.raises(ZsclfError, match=needle):
        save_index(tagged_index(2, 5), folder)
    assert snapshot(tmp_path) == before


# --- what may be replaced (the CLI's refusal is in test_targets) ---------------------------------------------

def test_a_folder_with_a_meta_json_is_not_an_index_and_is_never_touched(tmp_path):
    foreign_app(tmp_path / "app")
    refused_untouched(tmp_path, tmp_path / "app", "not a zsclf index .*'src'/")


@pytest.mark.parametrize("extra", ["notes.txt", "v-20260101T000000Z-0123abcd/other.txt", ".v-x.tmp/a"])
def test_one_entry_not_ours_makes_a_folder_foreign(tmp_path, extra):
    save_index(tagged_index(1, 5), tmp_path / "idx")
    (tmp_path / "idx" / extra).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / "idx" / extra).write_text("mine")
    refused_untouched(tmp_path, tmp_path / "idx", "not a zsclf index")


def test_a_format_1_index_is_refused_at_load_and_replaced_by_a_build(tmp_path):
    write_legacy(tmp_path / "old")
    with pytest.raises(ZsclfError, match=r"built by an older zsclf .*rebuild it with `zsclf build-index"):
        load_index(tmp_path / "old")
    save_index(tagged_index(2, 7), tmp_path / "old")
    assert tag_of(load_index(tmp_path / "old")) == 2
    assert sorted(os.listdir(tmp_path / "old")) == [CURRENT, current_version(tmp_path / "old").name]


def test_a_format_1_lookalike_with_an_extra_file_is_foreign(tmp_path):
    write_legacy(tmp_path / "old")
    (tmp_path / "old" / "README").write_text("x")
    with pytest.raises(ZsclfError, match="'README'"):
        check_index_target(tmp_path / "old")


def test_what_an_older_zsclf_left_after_a_crash_is_cleaned_up(tmp_path):
    write_legacy(tmp_path / ".idx.old-1764000000000")  # killed between its two renames: no idx at all
    write_legacy(tmp_path / ".idx.k2j4_x9q.tmp")
    (tmp_path / ".idx.abcdefgh.tmp").mkdir()
    (tmp_path / ".idx.abcdefgh.tmp" / "notes.txt").write_text("not ours")
    (tmp_path / ".other.old-1").mkdir()
    save_index(tagged_index(2, 7), tmp_path / "idx")
    assert sorted(os.listdir(tmp_path)) == [".idx.abcdefgh.tmp", ".other.old-1", "idx"]


def test_an_empty_folder_is_taken_as_a_new_index(tmp_path):
    (tmp_path / "new").mkdir()
    save_index(tagged_index(3, 4), tmp_path / "new")
    assert tag_of(load_index(tmp_path / "new")) == 3


def test_missing_parents_are_made(tmp_path):
    save_index(tagged_index(3, 4), tmp_path / "a" / "b" / "idx")
    assert tag_of(load_index(tmp_path / "a" / "b" / "idx")) == 3


def test_a_damaged_index_can_be_rebuilt_in_place(tmp_path):
    save_index(tagged_index(1, 5), tmp_path / "idx")
    (current_version(tmp_path / "idx") / META_FILE).write_text("{broken")
    (tmp_path / "idx" / CURRENT).write_text("garbage\n")
    save_index(tagged_index(2, 5), tmp_path / "idx")
    assert tag_of(load_index(tmp_path / "idx")) == 2


# --- damage found at load ----------------------------------------------------------------------------------

def flip(path, offset, bits=1):
    data = bytearray(path.read_bytes())
    for b in range(bits):
        data[offset + b // 8] ^= 1 << (b % 8)
    path.write_bytes(bytes(data))


def nan_row(version, fix):
    data = bytearray((version / INDEX_FILE).read_bytes())
    data[-4 * 8:] = np.full(8, np.nan, dtype=np.float32).tobytes()  # the last row
    (version / INDEX_FILE).write_bytes(bytes(data))
    if fix:
        fix_checksums(version)


def latin1_labels(version, fix):
    path = version / LABELS_FILE
    path.write_bytes(path.read_text().replace("b1 0", "café").encode("latin-1"))
    if fix:
        fix_checksums(version)


def replace_with_dir(path):
    path.unlink()
    path.mkdir()


def replace_with_fifo(path):
    path.unlink()
    os.mkfifo(path)


DAMAGE = {
    "header bit": (lambda v: flip(v / INDEX_FILE, 5), "index.faiss: checksum mismatch"),
    "50 vector bits": (lambda v: flip(v / INDEX_FILE, 100, 50), "index.faiss: checksum mismatch"),
    "NaN row": (lambda v: nan_row(v, fix=False), "index.faiss: checksum mismatch"),
    "NaN row, checksums redone": (lambda v: nan_row(v, fix=True), "index.faiss: holds vectors that are NaN"),
    "latin-1 labels": (lambda v: latin1_labels(v, fix=False), "labels.tsv: .*(truncated|checksum)"),
    "latin-1 labels, checksums redone": (lambda v: latin1_labels(v, fix=True),
                                         "labels.tsv: index labels are not UTF-8"),
    "index is a dir": (lambda v: replace_with_dir(v / INDEX_FILE), "index.faiss: cannot read .*a directory"),
    "labels is a dir": (lambda v: replace_with_dir(v / LABELS_FILE), "labels.tsv: cannot read .*a directory"),
    "meta is a dir": (lambda v: replace_with_dir(v / META_FILE), "meta.json: cannot read .*a directory"),
    "index is a FIFO": (lambda v: replace_with_fifo(v / INDEX_FILE), "index.faiss: cannot read .*FIFO"),
    "labels is a FIFO": (lambda v: replace_with_fifo(v / LABELS_FILE), "labels.tsv: cannot read .*FIFO"),
    "meta is a FIFO": (lambda v: replace_with_fifo(v / META_FILE), "meta.json: cannot read .*FIFO"),
    "CURRENT is a FIFO": (lambda v: replace_with_fifo(v.parent / CURRENT), "CURRENT: cannot read .*FIFO"),
    "CURRENT is a dir": (lambda v: replace_with_dir(v.parent / CURRENT), "CURRENT: cannot read .*a directory"),
    "CURRENT leads out": (lambda v: (v.parent / CURRENT).write_text("../../etc\n"), "CURRENT: does not name a version"),
    "version gone": (lambda v: os.rename(v, v.parent / "elsewhere"), "meta.json: missing"),
}


@pytest.mark.parametrize("case", list(DAMAGE))
def test_damage_is_one_error_naming_the_file(tmp_path, case):
    damage, needle = DAMAGE[case]
    save_index(tagged_index(1, 12), tmp_path / "idx")
    damage(current_version(tmp_path / "idx"))
    with no_hang(), pytest.raises(ZsclfError, match=needle) as caught:
        load_index(tmp_path / "idx")
    assert "\n" not in str(caught.value)


@pytest.mark.skipif(ROOT_USER, reason="root reads files whatever their mode")
@pytest.mark.parametrize("name", [INDEX_FILE, LABELS_FILE, META_FILE, CURRENT])
def test_unreadable_file_is_one_error(tmp_path, name):
    save_index(tagged_index(1, 12), tmp_path / "idx")
    path = (tmp_path / "idx" / CURRENT) if name == CURRENT else current_version(tmp_path / "idx") / name
    path.chmod(0)
    with pytest.raises(ZsclfError, match=f"{name}: cannot read .*permission denied"):
        load_index(tmp_path / "idx")


@pytest.mark.parametrize("case", ["header bit", "latin-1 labels, checksums redone", "index is a FIFO",
                                  "meta is a dir"])
def test_damaged_index_is_exit_2_through_the_cli(tmp_path, case):
    damage, needle = DAMAGE[case]
    save_index(tagged_index(1, 12), tmp_path / "idx")
    damage(current_version(tmp_path / "idx"))
    proc = run_cli("predict", "--index", str(tmp_path / "idx"), str(IMAGES / "coffee.png"))
    assert proc.returncode == 2 and proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1 and proc.stderr.startswith("zsclf: error: ")


def test_no_current_says_what_happened(tmp_path):
    with pytest.raises(ZsclfError, match="no index there"):
        load_index(tmp_path / "nothing")
    foreign_app(tmp_path / "app")
    with pytest.raises(ZsclfError, match="not a zsclf index"):
        read_meta(tmp_path / "app")
    save_index(tagged_index(1, 5), tmp_path / "idx")
    (tmp_path / "idx" / CURRENT).unlink()
    with pytest.raises(ZsclfError, match="no CURRENT file .*interrupted"):
        load_index(tmp_path / "idx")


def test_saving_nan_vectors_is_refused(tmp_path):
    index = tagged_index(1, 5)
    store.stored_vectors(index.faiss_index)[2, 3] = np.nan
    with pytest.raises(ZsclfError, match="NaN or infinity; nothing was written"):
        save_index(index, tmp_path / "idx")
    assert not (tmp_path / "idx").exists()


# --- readers and a concurrent publish ------------------------------------------------------------------

def test_reader_retries_when_its_version_is_deleted_under_it(tmp_path, monkeypatch):
    save_index(tagged_index(1, 5), tmp_path / "idx")
    real_load, calls = store._load_version, []

    def load_after_two_publishes(version):
        if not calls:  # CURRENT was read: now two publishes delete that version before we open anything
            save_index(tagged_index(2, 6), tmp_path / "idx")
            save_index(tagged_index(3, 7), tmp_path / "idx")
            assert not version.exists()
        calls.append(version.name)
        return real_load(version)

    monkeypatch.setattr(store, "_load_version", load_after_two_publishes)
    assert tag_of(load_index(tmp_path / "idx")) == 3 and len(calls) == 2


def test_version_info_and_checks_in_zsclf_info(tmp_path):
    save_index(tagged_index(1, 5), tmp_path / "idx")
    data = json.loads(run_cli("info", "--json", "--index", str(tmp_path / "idx"), expect=0).stdout)["index"]
    assert data["version"] == current_version(tmp_path / "idx").name and data["files_ok"] is True
    flip(current_version(tmp_path / "idx") / INDEX_FILE, 60)
    data = json.loads(run_cli("info", "--json", "--index", str(tmp_path / "idx"), expect=0).stdout)["index"]
    assert "checksum mismatch" in data["error"]


def test_survey_sorts_entries(tmp_path):
    save_index(tagged_index(1, 5), tmp_path / "idx")
    version = current_version(tmp_path / "idx").name
    (tmp_path / "idx" / ".v-20260101T000000Z-0123abcd.tmp").mkdir()
    (tmp_path / "idx" / ".CURRENT.0123abcd.tmp").write_text("x")
    found = survey(tmp_path / "idx")
    assert found.ours and found.current == version and found.versions == [version]
    assert sorted(found.temps) == [".CURRENT.0123abcd.tmp", ".v-20260101T000000Z-0123abcd.tmp"]
    assert stat.S_ISDIR(os.stat(tmp_path / "idx").st_mode)
