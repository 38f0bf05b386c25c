"""Reliability round 2, CLI-wide, through the real CLI: text the user chose (label names, file and folder names,
eval labels, search queries, paths) is shown verbatim in every table and report, never read as Rich markup;
numeric options that would give silent nonsense (NaN, infinity, out of range) are one line and exit 2 before
any work; `benchmark` of an empty folder is refused instead of benchmarking generated images."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import IMAGES, run_cli
from test_hostile import check_messages, snapshot

MARKUP = ("[/]", "[bold]x", "[link=http://x]y")  # each one crashed (MarkupError) or vanished in a table
LINK = "[link=x]y"  # a file or folder name cannot hold the slashes of http://
TABLE = ("--format", "table")


@pytest.fixture(scope="module")
def hostile(tmp_path_factory, models_ready) -> dict[str, Path]:
    """An index whose labels are markup, stored under a path holding `[/]`, photos named like markup, a
    calibration manifest and an eval folder tree of markup labels."""
    root = tmp_path_factory.mktemp("markup")
    labels = root / "labels.tsv"  # two of the CNN's classes and an unseen one, so that calibrate can fit
    labels.write_text("wnid\tname\n" + "".join(f"{w}\t{n}\n" for w, n in
                                               zip(("n07920052", "n02123045", "n04099429"), MARKUP, strict=True)))
    (root / "a[").mkdir()
    index = root / "a[" / "]idx"  # the path reads ".../a[/]idx"
    run_cli("build-index", str(labels), "-o", str(index), "-q", expect=0)
    photos = root / "photos"
    (photos / "a[").mkdir(parents=True)
    named = {"[bold]x.png": "coffee.png", f"{LINK}.png": "chelsea.png", "a[/]b.jpg": "rocket.jpg"}
    for name, source in named.items():
        shutil.copyfile(IMAGES / source, photos / name)
    manifest = root / "fit[bold]x.tsv"
    manifest.write_text("path\tlabel\twnid\n" + "".join(f"{photos / n}\t{label}\t{w}\n" for n, label, w in
                                                        zip(named, MARKUP, ("n07920052", "n02123045", "n04099429"),
                                                            strict=True)))
    tree = root / "ev[bold]al"
    for label, source in (("[bold]x", "coffee.png"), (LINK, "chelsea.png"),
                          ("[red]nowhere", "rocket.jpg")):
        (tree / label).mkdir(parents=True)
        shutil.copyfile(IMAGES / source, tree / label / source)
    return {"root": root, "index": index, "photos": photos, "manifest": manifest, "tree": tree}


def test_markup_in_labels_and_paths_of_predict_tables_is_shown_verbatim(hostile):
    index, photos = str(hostile["index"]), hostile["photos"]
    proc = run_cli("predict", str(photos), "--index", index, "-k", "3", *TABLE, expect=0)
    for text in (*MARKUP, str(photos / "[bold]x.png"), str(photos / f"{LINK}.png"),
                 str(photos / "a[/]b.jpg")):
        assert text in proc.stdout, (text, proc.stdout)
    broken = hostile["root"] / "[red]broken.jpg"
    broken.write_bytes(b"not a photo")
    failed = run_cli("predict", str(broken), "--index", index, *TABLE, expect=1)
    assert f"error: {broken}: " in failed.stdout and "internal error" not in failed.stderr
    info = run_cli("info", "--index", index, "--no-checksums", expect=0)
    assert f"index {index}: 3 labels" in info.stdout


def test_markup_in_calibration_and_eval_reports_is_shown_verbatim(hostile):
    index, tree = str(hostile["index"]), hostile["tree"]
    fit = run_cli("calibrate", str(hostile["manifest"]), "--index", index, "-q", expect=0)
    assert f"stored in {index}" in fit.stdout
    report = run_cli("eval", str(tree), "--index", index, "--hedge", "0.9", "--hedge-rule", "threshold", "-q",
                     expect=0).stdout
    assert report.startswith(f"{tree}: 1 of 3 images evaluated"), report  # "[bold]x" is a label of the index
    assert f"ground truth not in the index (not scored): {LINK} (1), [red]nowhere (1)" in report
    assert f"fit: {hostile['manifest']}" in report.replace("\n", "")  # the report may wrap the long path


@pytest.fixture(scope="module")
def collection(hostile) -> Path:
    """A photo collection of the photos named like markup."""
    db = hostile["root"] / "c.db"
    run_cli("photos", str(hostile["photos"]), "--db", str(db), "-q", expect=0)
    return db


def test_markup_in_search_queries_and_photo_paths_is_shown_verbatim(hostile, collection):
    proc = run_cli("search", *MARKUP, "--db", str(collection), "-k", "3", *TABLE, expect=0)
    for text in (*MARKUP, str(hostile["photos"] / "a[/]b.jpg"), str(hostile["photos"] / "[bold]x.png")):
        assert text in proc.stdout, (text, proc.stdout)


def test_markup_in_benchmark_and_retrieval_reports_is_shown_verbatim(hostile):
    root = hostile["root"]
    unreadable = root / "a[" / "]unreadable.jpg"  # ".../a[/]unreadable.jpg"
    unreadable.write_bytes(b"not a photo")
    bench = run_cli("benchmark", str(IMAGES / "coffee.png"), str(unreadable), "--index", str(hostile["index"]),
                    "--repeats", "1", "--cold-runs", "0", expect=0)
    assert f"(first: {unreadable}: " in bench.stdout.replace("\n", ""), bench.stdout
    pairs = root / "pairs[bold]x.tsv"
    pairs.write_text("image\tcaption\n" + "".join(f"{hostile['photos'] / n}\t{c}\n" for n, c in (
        ("[bold]x.png", "a cup of coffee"), (f"{LINK}.png", "a cat"), ("a[/]b.jpg", "a rocket"))))
    report = run_cli("eval-retrieval", str(pairs), "-q", expect=0).stdout
    assert report.startswith(f"{pairs}: 3 photos, 3 sentences"), report


def test_non_finite_seen_penalty_is_refused_before_any_work(hostile, tmp_path):
    index = hostile["index"]
    before = snapshot(index.parent)
    for value in ("nan", "inf", "-inf"):
        for where in (["--index", str(index)], ["-o", str(tmp_path / "fit.json")]):
            proc = run_cli("calibrate", str(hostile["manifest"]), *where, "--seen-penalty", value)
            check_messages(proc, 2, f"--seen-penalty must be a finite number, not {value}")
            assert proc.stdout == "" and len(proc.stderr.splitlines()) == 1
    assert snapshot(index.parent) == before and not (tmp_path / "fit.json").exists()


@pytest.mark.parametrize("weight", ["inf", "1e308", "nan", "0", "-1", "101"])
def test_search_weight_must_be_finite_and_sensible(collection, weight):
    before = collection.read_bytes()
    proc = run_cli("search", "a cat", "--plus", "a rocket", "--weight", weight, "--db", str(collection))
    check_messages(proc, 2, "--weight must be a finite number > 0 and <= 100, not")
    assert proc.stdout == "" and collection.read_bytes() == before


@pytest.mark.parametrize("args,needle", [
    (["eval-retrieval", "P", "--folds", "1"], "--folds must be 0 (no training) or at least 2"),
    (["eval-retrieval", "P", "--temperature", "0"], "--temperature must be a finite number > 0"),
    (["eval-retrieval", "P", "--temperature", "nan"], "--temperature must be a finite number > 0"),
    (["eval-retrieval", "P", "--temperature", "-2"], "--temperature must be a finite number > 0"),
    (["eval-retrieval", "P", "--beta", "inf"], "--beta must be a finite number > 0"),
    (["benchmark", "EMPTY/"], "no images found in EMPTY/"),
    (["batch", "P", "-o", "OUT", "--engine", "ray", "--gpus-per-worker", "nan"], "--gpus-per-worker must be a finite"),
    (["batch", "P", "-o", "OUT", "--engine", "ray", "--gpus-per-worker", "inf"], "--gpus-per-worker must be a finite"),
    (["batch", "P", "-o", "OUT", "--min-score", "nan"], "--min-score must be a finite number"),
    (["predict", str(IMAGES / "coffee.png"), "--seen-penalty", "inf"], "--seen-penalty must be a finite number"),
    (["eval", "M", "--hedge", "nan"], "--hedge must be a probability in (0, 1], not nan"),  # not "use another rule"
    (["train", "--pairs", "P", "-o", "OUT", "--lr", "nan"], "--lr must be a finite number >= 0, not nan"),
    (["train", "--pairs", "P", "-o", "OUT", "--margin", "inf"], "--margin must be a finite number >= 0, not inf"),
])
def test_numeric_options_that_would_give_nonsense_are_one_line(default_index, tmp_path, args, needle):
    (tmp_path / "empty").mkdir()
    (tmp_path / "pairs.tsv").write_text(f"image\tcaption\n{IMAGES / 'coffee.png'}\tcoffee\n"
                                        f"{IMAGES / 'chelsea.png'}\ta cat\n")
    (tmp_path / "m.tsv").write_text(f"path\tlabel\n{IMAGES / 'coffee.png'}\tespresso\n")
    swap = {"P": str(tmp_path / "pairs.tsv"), "M": str(tmp_path / "m.tsv"), "EMPTY/": f"{tmp_path / 'empty'}/",
            "OUT": str(tmp_path / "out")}
    before = snapshot(tmp_path)
    proc = run_cli(*(swap.get(a, a) for a in args))
    check_messages(proc, 2, needle.replace("EMPTY/", swap["EMPTY/"]))
    assert proc.stdout == "" and len(proc.stderr.splitlines()) == 1
    assert snapshot(tmp_path) == before
