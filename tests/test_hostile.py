"""The hostile-input audit, kept: bad inputs, odd files, broken stdout/stderr and bad options, driven through
the real CLI. Each case asserts the exit code, that stderr holds only one-line `zsclf:` messages (never a
traceback), what reached stdout, and that nothing on disk changed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import IMAGES, run_cli

GOOD, GOOD2 = str(IMAGES / "chelsea.png"), str(IMAGES / "coffee.png")


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every entry under `folder` with its size and mtime (symlinks not followed)."""
    out = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            st = os.lstat(os.path.join(root, name))
            out[os.path.relpath(os.path.join(root, name), folder)] = (st.st_size, st.st_mtime_ns)
    return out


def check_messages(proc: subprocess.CompletedProcess, code: int, *needles: str) -> None:
    assert proc.returncode == code, f"exit {proc.returncode}, expected {code}: {proc.stderr}"
    lines = proc.stderr.splitlines()
    assert "Traceback" not in proc.stderr and all(line.startswith("zsclf: ") for line in lines), proc.stderr
    for needle in needles:
        assert needle in proc.stderr, proc.stderr


def shell(command: str, **env: str) -> subprocess.CompletedProcess:
    """Run a shell command line with `zsclf` being this interpreter's CLI (for redirections like >&-)."""
    zsclf = f"{sys.executable} -m zsclf.cli"
    return subprocess.run(command.replace("zsclf ", zsclf + " "), shell=True, capture_output=True, text=True,
                          timeout=120, env={**os.environ, **env}, executable="/bin/bash")


@pytest.fixture
def odd_files(tmp_path):
    fifo = tmp_path / "fifo.jpg"
    os.mkfifo(fifo)
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "dir.jpg").mkdir()  # a folder, even with an image's name, is walked
    (tmp_path / "dangling.jpg").symlink_to(tmp_path / "nowhere.jpg")
    return tmp_path


def test_special_files_among_photos_never_hang_and_the_rest_is_classified(default_index, odd_files):
    before = snapshot(odd_files)
    inputs = [GOOD, str(odd_files / "fifo.jpg"), "/dev/zero", "/proc/self/status", str(odd_files / "empty.jpg"),
              str(odd_files / "dangling.jpg"), GOOD2]
    proc = run_cli("predict", *inputs, "-k", "1")
    check_messages(proc, 1, "fifo.jpg: is a FIFO (named pipe), not a regular file",
                   "/dev/zero: is a character device, not a regular file",
                   "/proc/self/status: not an image Pillow can read", "empty.jpg: empty file (0 bytes)",
                   "dangling.jpg: no such file", "5 of 7 inputs failed")
    records = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["path"] for r in records] == inputs
    assert [("predictions" in r) for r in records] == [True] + [False] * 5 + [True]
    walked = run_cli("predict", str(odd_files), "-k", "1")  # a FIFO met in a folder walk is refused the same way
    check_messages(walked, 1, "fifo.jpg: is a FIFO")
    assert snapshot(odd_files) == before


def test_paths_that_are_not_utf8_round_trip(default_index, tmp_path):
    name = os.fsdecode(b"caf\xe9 \xff.png")
    (tmp_path / name).write_bytes((IMAGES / "chelsea.png").read_bytes())
    listing = os.fsencode(str(tmp_path / name)) + b"\n"
    tsv = subprocess.run([sys.executable, "-m", "zsclf.cli", "predict", "-", "-k", "1", "--format", "tsv"],
                         input=listing, capture_output=True, timeout=120)
    assert tsv.returncode == 0, tsv.stderr
    assert tsv.stdout.splitlines()[1].split(b"\t")[0] == listing.rstrip(b"\n")  # the very bytes
    jsonl = run_cli("predict", str(tmp_path / name), "-k", "1", expect=0)
    path = json.loads(jsonl.stdout)["path"]
    assert path.endswith("caf\udce9 \udcff.png") and os.fsencode(path) == os.fsencode(str(tmp_path / name))
    missing = run_cli("predict", os.fsdecode(b"/nope/\xfe.jpg"))
    check_messages(missing, 1, "\\udcfe.jpg: no such file")


def test_broken_stdout_and_stderr(default_index):
    full = shell(f"zsclf predict {GOOD} > /dev/full")
    check_messages(full, 2, "cannot write results to stdout: No space left on device")
    closed = shell(f"zsclf predict {GOOD} {GOOD2} --format tsv >&-")
    check_messages(closed, 2, "stdout is closed")
    report = shell("zsclf info --no-checksums > /dev/full")
    check_messages(report, 2, "cannot write to stdout")
    quiet = shell(f"zsclf predict {GOOD} /nope.jpg -k 1 2>&-")
    assert quiet.returncode == 1 and "zsclf:" not in quiet.stdout  # errors never land among the results
    assert [("error" in json.loads(line)) for line in quiet.stdout.splitlines()] == [False, True]
    piped = shell(f"zsclf predict {GOOD} {GOOD2} {GOOD} | head -1")
    assert piped.returncode == 0 and piped.stderr == "" and len(piped.stdout.splitlines()) == 1


@pytest.mark.parametrize("args,needle", [
    (["predict", GOOD, "--min-score", "nan"], "--min-score must be a finite number"),
    (["predict", GOOD, "--seen-gate", "nan"], "--seen-gate must be a probability"),
    (["predict", GOOD, "--seen-gate", "1.5"], "--seen-gate must be a probability"),
    (["build-index", "L", "--template", "{nme}"], "unknown field {nme}"),
    (["build-index", "L", "--template", "a {name"], "not a valid format string"),
    (["build-index", "L", "--template", "{0}"], "unknown field {0}"),
    (["build-index", "FIFO"], "is a FIFO (named pipe), not a regular file"),
    (["build-index", "/dev/zero"], "is a character device"),
    (["train", "M", "-o", "P", "--lr", "nan"], "--lr must be a finite positive number"),
    (["train", "M", "-o", "P", "--template", "{nme}"], "unknown field {nme}"),
    (["eval", "SHORT"], "short.tsv:3: expected at least 2 columns, got 1"),
    (["eval", "FIFO"], "is a FIFO"),
])
def test_bad_options_and_inputs_are_one_line_usage_errors(default_index, tmp_path, args, needle):
    (tmp_path / "labels.txt").write_text("cat\ndog\n")
    os.mkfifo(tmp_path / "fifo.tsv")
    (tmp_path / "m.tsv").write_text(f"path\tlabel\n{GOOD}\tcat\n{GOOD2}\tdog\n")
    (tmp_path / "short.tsv").write_text(f"path\tlabel\n{GOOD}\tcat\n{GOOD2}\n")
    swap = {"L": tmp_path / "labels.txt", "FIFO": tmp_path / "fifo.tsv", "M": tmp_path / "m.tsv",
            "P": tmp_path / "p.npz", "SHORT": tmp_path / "short.tsv"}
    before = snapshot(tmp_path)
    proc = run_cli(*(str(swap.get(a, a)) for a in args))
    check_messages(proc, 2, needle)
    assert proc.stdout == "" and len(proc.stderr.splitlines()) == 1
    assert snapshot(tmp_path) == before


def test_benchmark_skips_unreadable_images_and_says_so(default_index, tmp_path):
    (tmp_path / "a.png").write_bytes((IMAGES / "chelsea.png").read_bytes())
    (tmp_path / "b.jpg").write_bytes(b"not a photo")
    proc = run_cli("benchmark", str(tmp_path), "/nope/missing.jpg", "--limit", "5", "--repeats", "1",
                   "--cold-runs", "0", "--json", expect=0)
    result = json.loads(proc.stdout)
    assert result["runs"][0]["images"] == 1 and len(result["skipped"]) == 2
    assert any("b.jpg" in s for s in result["skipped"]) and any("missing.jpg" in s for s in result["skipped"])


def test_empty_label_folders_among_examples_are_reported(models_ready, tmp_path):
    examples = tmp_path / "examples"
    (examples / "cat").mkdir(parents=True)
    (examples / "cat" / "1.png").write_bytes((IMAGES / "chelsea.png").read_bytes())
    (examples / "cup").mkdir()
    (examples / "cup" / "1.png").write_bytes((IMAGES / "coffee.png").read_bytes())
    (examples / "empty").mkdir()
    proc = run_cli("build-index", "--examples", str(examples), "-o", str(tmp_path / "i"), "-q")
    check_messages(proc, 0, "1 label folders hold no photos and were left out (empty)")
