"""`--hedge`, `--seen-penalty`, `zsclf calibrate` and `eval --hedge` through the real command line, and what a
plain `predict` does not pay for them (no new imports at start-up)."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

from conftest import IMAGES, run_cli
from zsclf.index.store import current_version


def jsonl(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines()]


def test_jsonl_carries_the_hedged_answer_beside_the_predictions(default_index):
    plain = jsonl(run_cli("predict", str(IMAGES / "coffee.png"), str(IMAGES / "chelsea.png"), expect=0).stdout)
    hedged = jsonl(run_cli("predict", str(IMAGES / "coffee.png"), str(IMAGES / "chelsea.png"), "--hedge", "0.9",
                           expect=0).stdout)
    assert all("hedged" not in r for r in plain)
    assert [r["predictions"] for r in hedged] == [r["predictions"] for r in plain]  # the ranking is unchanged
    coffee, cat = (r["hedged"] for r in hedged)
    assert set(coffee) == {"label", "id", "probability", "depth"}
    assert coffee["id"] == "n07920052" and coffee["label"] == "espresso" and coffee["probability"] > 0.9
    # the tabby: a domestic cat or one of its ancestors, never a wrong species
    assert cat["id"] in {"n02121808", "n02121620", "n02120997", "n01886756", "n02075296"}, cat
    assert 0 < cat["depth"] < coffee["depth"] + 5


def test_delimited_and_table_output_show_the_hedged_answer_only_with_hedge(default_index):
    tsv = run_cli("predict", str(IMAGES / "coffee.png"), "-k", "2", "-f", "tsv", "--hedge", "0.95", expect=0).stdout
    rows = list(csv.reader(io.StringIO(tsv), delimiter="\t"))
    assert rows[0] == ["path", "rank", "label", "id", "score", "hedged_label", "hedged_id", "hedged_probability",
                       "hedged_depth"]
    assert len(rows) == 3 and rows[1][5] == rows[2][5] and int(rows[1][8]) >= 0
    plain = run_cli("predict", str(IMAGES / "coffee.png"), "-k", "2", "-f", "tsv", expect=0).stdout
    assert plain.splitlines()[0] == "path\trank\tlabel\tid\tscore"
    table = run_cli("predict", str(IMAGES / "coffee.png"), "-k", "2", "-f", "table", "--hedge", "0.9",
                    expect=0).stdout
    assert "hedged" in table and "espresso (depth" in table


def test_hedge_usage_errors(default_index, tmp_path):
    proc = run_cli("predict", str(IMAGES / "coffee.png"), "--hedge", "1.5")
    assert proc.returncode == 2 and "--hedge must be a probability" in proc.stderr
    proc = run_cli("predict", str(IMAGES / "coffee.png"), "--hedge", "0.3")
    assert proc.returncode == 2 and "covers P = 0.5 to 0.99" in proc.stderr
    assert run_cli("predict", str(IMAGES / "coffee.png"), "--hedge", "0.3", "--hedge-rule", "threshold").returncode == 0
    proc = run_cli("predict", str(IMAGES / "coffee.png"), "--hedge", "0.9", "--top-t", "5")
    assert proc.returncode == 2 and "conse top-t 10" in proc.stderr and "zsclf calibrate" in proc.stderr


def test_an_index_without_a_fit_says_how_to_make_one(models_ready, tmp_path):
    labels = tmp_path / "mine.txt"
    labels.write_text("tabby cat\nespresso\nrocket\n")
    run_cli("build-index", str(labels), "-o", str(tmp_path / "mine"), "-q", expect=0)
    proc = run_cli("predict", "--index", str(tmp_path / "mine"), str(IMAGES / "coffee.png"), "--hedge", "0.9")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "no hedging fit" in proc.stderr and "zsclf calibrate" in proc.stderr
    # the seen gate's P(seen) depends on the image model only: it works on any index
    out = jsonl(run_cli("predict", "--index", str(tmp_path / "mine"), str(IMAGES / "coffee.png"), "--seen-gate",
                        "0.5", expect=0).stdout)
    assert out[0]["predictions"][0]["label"] == "espresso"


def test_calibrate_stores_a_fit_that_predict_and_eval_use(models_ready, tmp_path):
    labels = tmp_path / "species.tsv"  # two CNN classes and an unseen one, by WNID
    labels.write_text("wnid\tname\nn07920052\tespresso\nn02123045\ttabby cat\nn04099429\trocket\n")
    index = tmp_path / "idx"
    run_cli("build-index", str(labels), "-o", str(index), "-q", expect=0)
    manifest = tmp_path / "photos.tsv"
    manifest.write_text(f"path\tlabel\twnid\n{IMAGES / 'coffee.png'}\tespresso\tn07920052\n"
                        f"{IMAGES / 'chelsea.png'}\ttabby cat\tn02123045\n"
                        f"{IMAGES / 'rocket.jpg'}\trocket\tn04099429\n")
    proc = run_cli("calibrate", str(manifest), "--index", str(index), "--json", "-q", expect=0)
    report = json.loads(proc.stdout)
    assert report["fit"]["photos"] == {"seen": 2, "unseen": 1, "skipped": 0}
    meta = json.loads((current_version(index) / "meta.json").read_text())
    assert meta["hedging"]["fitted_for"]["labels"] == 3
    out = jsonl(run_cli("predict", "--index", str(index), str(IMAGES / "coffee.png"), "--hedge", "0.9",
                        expect=0).stdout)
    assert "hedged" in out[0]
    proc = run_cli("eval", str(manifest), "--index", str(index), "--hedge", "0.8", "--hedge", "0.9", "--json",
                   expect=0)
    result = json.loads(proc.stdout)
    assert [t["p"] for t in result["hedge"]["targets"]] == [0.8, 0.9]
    assert {"all", "seen", "unseen"} <= set(result["hedge"]["targets"][0])
    assert result["novelty"]["seen_photos"] == 2 and "energy" in result["novelty"]["auroc"]
    assert "gzsl" in result and "@5" in result["gzsl"]["h"]
    text = run_cli("eval", str(manifest), "--index", str(index), "--hedge", "0.9", "-q", expect=0).stdout
    assert "hedged answers (darts" in text and "novelty AUROC" in text and "calibrated stacking" in text
    proc = run_cli("calibrate", str(manifest), "--index", str(index), "--only", "nothing-like-this")
    assert proc.returncode == 2 and "no labelled images" in proc.stderr


def test_calibrate_refuses_photos_of_one_kind(models_ready, tmp_path):
    manifest = tmp_path / "photos.tsv"
    manifest.write_text(f"path\tlabel\twnid\n{IMAGES / 'coffee.png'}\tespresso\tn07920052\n")
    proc = run_cli("calibrate", str(manifest), "-o", str(tmp_path / "fit.json"))
    assert proc.returncode == 2 and "needs photos of the CNN's own classes and of other classes" in proc.stderr
    assert not (tmp_path / "fit.json").exists()


def test_plain_predict_imports_nothing_for_hedging(default_index):
    code = (f"import sys; sys.argv=['zsclf', 'predict', {str(IMAGES / 'coffee.png')!r}]\n"
            "import zsclf.cli as c\ntry:\n    c.main()\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in sys.modules if m.startswith('zsclf.')), file=sys.stderr)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    loaded = proc.stderr.strip().splitlines()[-1]
    for module in ("hedging", "taxonomy", "hierarchy", "stacking", "zsclf.learn", "zsclf.measure"):
        assert module not in loaded, loaded
