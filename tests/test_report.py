"""tools/report (the report generator): plan, cache, conclusions and rendering on canned results; no zsclf runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))

from report.conclusions import (  # noqa: E402
    TOLERANCE,
    chance_text,
    compare,
    dominant_answers,
    gap_target,
    tradeoff,
)
from report.context import Context  # noqa: E402
from report.output import splice, wrap  # noqa: E402
from report.plan import (  # noqa: E402
    GATES,
    HEDGE_PS,
    Build,
    Measure,
    Write,
    gate_key,
    imagenet_key,
    make_plan,
    refs,
    unique,
)
from report.runner import Runner  # noqa: E402
from report.sections import SECTIONS, section_name  # noqa: E402
from report.sections.speed import speed_targets  # noqa: E402


class FakeZsclf:
    """Stands in for the subprocess: records each argv and answers with canned JSON."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, argv: list[str]) -> subprocess.CompletedProcess:
        self.calls.append(argv)
        command = argv[3] if argv[1:3] == ["-m", "zsclf.cli"] else Path(argv[1]).stem
        if command == "calibrate" and "-o" in argv:
            Path(argv[argv.index("-o") + 1]).write_text(json.dumps(FIT))
        stdout = {"eval": {**EVAL, **GZSL_EVAL, **({"hedge": HEDGE} if "--hedge" in argv else {})}, "benchmark": BENCH,
                  "baseline_torch": BASELINE, "serve_bench": SERVE, "calibrate": {"fit": FIT},
                  "own_labels_eval": OWN_LABELS}.get(command)
        return subprocess.CompletedProcess(argv, 0, json.dumps(stdout) if stdout else "", "")


OWN_LABELS = {"sets": {"scenes-coco": {"about": "scenes", "labels": 8, "photos": 28, **{
    prior: {"hit@1": hit, "hit@5": 0.9, "balanced": hit - 0.1, "skew": skew, "most_answered": "beach",
            "most_answered_share": 0.3} for prior, hit, skew in (("off", 0.4, 2.25), ("auto", 0.7, 1.0))}}}}
AT = {"@1": 0.5, "@2": 0.6, "@5": 0.8, "@10": 0.9, "@20": 0.95}
EVAL = {"images": 4, "evaluated": 4, "failed": 0, "unmatched": {"n2": 1}, "labels_in_index": 12, "hit": AT, "hp": AT,
        "confusions": [{"true": "iris", "predicted": "daisy", "count": 2}, {"true": "lily", "predicted": "rose",
                                                                             "count": 1}],
        "cnn_softmax": {"images": 2, "hit": {"@1": 0.5, "@5": 0.8}}}
STAGES = ("decode_preprocess", "encoder", "projection", "search", "end_to_end")
BENCH = {"machine": {"cpu": "test"}, "runs": [{
    "device": {"encoder": "cpu", "search": "cpu"}, "images_per_s": dict.fromkeys(STAGES, 100.0),
    "ratios": {"end_to_end_vs_encoder": 0.9}, "batch1_latency_ms": {"median": 20.0, "min": 19.0},
    "cold_start": {"median_s": 0.4, "min_s": 0.3}, "index_load_s": 0.03, "peak_rss_mb": 900.0, "images": 8,
    "batch_size": 32, "threads": 2, "labels": 21841}]}
HEDGED = {"photos": 2, "accuracy": 0.9, "exact": 0.7, "info_gain_bits": 10.0, "info_gain_fraction": 0.7,
          "mean_probability": 0.9, "mean_depth": 8.0, "depth": {"8": 0.75, "9": 0.25},
          "common_ancestor": {"label": "bird", "id": "n01503061", "depth": 8, "correct_at_or_below": 0.8},
          "top_answers": [{"label": "bird", "count": 2}]}
HEDGE = {"rule": "darts", "fitted_on": "x", "labels_in_hierarchy": 21842, "max_info_gain_bits": 14.4, "photos": 2,
         "targets": [{"p": p, "all": HEDGED, "seen": HEDGED, "unseen": HEDGED} for p in HEDGE_PS]}
GZSL_EVAL = {"novelty": {"seen_photos": 2, "unseen_photos": 2, "auroc": {"energy": 0.91, "max_softmax": 0.83}},
             "gzsl": {"gamma": 0.5, "seen_photos": 2, "unseen_photos": 2, "ausuc": {"@1": 0.1, "@5": 0.3},
                      "hit": {"@5": {"gamma=0": {"seen": 0.9, "unseen": 0.1},
                                     "gamma=0.5": {"seen": 0.8, "unseen": 0.3}}},
                      "h": {"@5": {"gamma=0": 0.18, "gamma=0.5": 0.436}},
                      "best_gamma_on_these_photos": {"gamma": 0.4, "h5": 0.4, "seen": 0.8, "unseen": 0.27}}}
FIT = {**json.loads((Path(__file__).resolve().parents[1] / "labels" / "hedging-imagenet21k.json").read_text()),
       "seen_penalty": -0.02, "stacking": {"h5_at_zero": 0.1, "h5_at_gamma": 0.1, "seen_hit5_at_zero": 0.93,
                                           "seen_hit5_at_gamma": 0.94, "reported_on_seen_photos": 300,
                                           "reported_on_unseen_photos": 500}}
BASELINE = {"zsclf_images_per_s": 120.0, "baseline_images_per_s": 40.0, "zsclf_hit1": 0.88, "baseline_hit1": 0.88,
            "speedup": 3.0, "top1_agreement": 0.99, "images": 8, "threads": 2}

SERVE = {"photos": 10000, "predict": {"p50_ms": 24.0, "p90_ms": 26.0, "n": 200},
         "search": {"p50_ms": 7.0, "p90_ms": 8.0, "n": 200}, "rss_before_soak_mb": 337.0, "rss_after_soak_mb": 339.0,
         "soak": {"clients": 8, "seconds": 10.0, "requests": 500, "per_second": 50.0, "by_status": {"200": 500}}}


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """A miniature ../shared/data: two flower species (one seen by the CNN) and a two-photo ImageNet sample."""
    root = tmp_path / "data"
    (root / "flowers12").mkdir(parents=True)
    (root / "imagenet-sample").mkdir()
    rows = [f"{split}/{name}/{i}.jpg\t{name}\t{wnid}" for split in ("train", "test") for i in range(2)
            for name, wnid in (("daisy", "n11939491"), ("iris", "n12411922"))]
    (root / "flowers12" / "labels.tsv").write_text("\n".join(rows) + "\n")
    (root / "imagenet-sample" / "labels.tsv").write_text("path\tclass_index\twnid\tname\na.jpg\t0\tn1\tone\n")
    (root / "birds50").mkdir()
    (root / "birds50" / "labels.tsv").write_text(
        "path\tlabel\twnid\thypernym_wnid\tsplit\tin_imagenet1k\n"
        "train/A/0.jpg\tA\tn01532325\tn01529672\ttrain\tno\ntest/B/0.jpg\tB\t\tn01529672\ttest\tno\n")
    return root


def test_cache_key_is_the_whole_command_line():
    fake = FakeZsclf()
    runner = Runner(fake)
    plain = runner.run(["zsclf", "eval", "x.tsv", "--json"])
    gated = runner.run(["zsclf", "eval", "x.tsv", "--seen-gate", "0.3", "--json"])
    assert len(fake.calls) == 2 and plain is not gated  # an option makes another measurement
    assert runner.run(["zsclf", "eval", "x.tsv", "--seen-gate", "0.3", "--json"]) is gated
    assert len(fake.calls) == 2  # the same command line is not run twice


def test_plan_keys_unique_and_references_resolve():
    with pytest.raises(ValueError, match="twice"):
        unique([("a", Write("a.tsv", str)), ("a", Write("b.tsv", str))])
    for quick in (False, True):
        steps = make_plan(quick).steps
        outs = [s.out for s in steps.values() if isinstance(s, Build | Write)]
        assert len(outs) == len(set(outs))
        commands = [s.argv for s in steps.values() if isinstance(s, Measure | Build)]
        assert len(commands) == len(set(commands)), "two keys for the same command"
        assert all(ref in steps for step in steps.values() for ref in refs(step))


def test_every_key_carries_its_options(tmp_path, data):
    ctx = Context(data=data, work=tmp_path, out=tmp_path / "results.md", plan=make_plan(), runner=Runner(FakeZsclf()))
    for gate in GATES:
        argv = ctx.argv(gate_key("1k", gate))
        assert ["--seen-gate", str(gate)] == argv[argv.index("--seen-gate"):][:2]
        assert str(tmp_path / "index-imagenet1k") in argv
        assert "--index" not in ctx.argv(gate_key("21k", gate))
    assert "--top-t" in ctx.argv(imagenet_key("1k", 5)) and "--top-t" not in ctx.argv(imagenet_key("1k"))


@pytest.mark.parametrize(("value", "met"), [(0.875 - TOLERANCE, True), (0.875 - TOLERANCE - 0.001, False)])
def test_target_flips_at_the_tolerance(value, met):
    sentence = gap_target("hit@1 within 1 point of softmax top-1", value, 0.875)
    assert sentence.endswith("**met**" if met else "**not met**")


@pytest.mark.parametrize(("speedup", "met"), [(2.0, True), (1.99, False)])
def test_speed_target_follows_the_number(speedup, met):
    lines = speed_targets(BENCH["runs"][0], {**BASELINE, "speedup": speedup}).splitlines()
    assert lines[0].endswith("**met**" if met else "**not met**")


def test_comparisons_read_the_numbers():
    assert compare("visual", 0.905, "text", 0.447) == "visual beats text by 45.8 points"
    assert compare("visual", 0.447, "text", 0.905) == "visual trails text by 45.8 points"
    assert compare("a", 0.5, "b", 0.505) == "a and b are within 1 point"
    assert tradeoff("hp@5", 0.415, 0.518).startswith("at the cost of hierarchical precision (hp@5 41.5 vs 51.8")
    assert tradeoff("hp@5", 0.52, 0.518).startswith("without losing")
    assert chance_text(0.129, 1 / 12) == "near the chance level of 8.3"
    assert chance_text(0.5, 1 / 12) == "41.7 points above the chance level of 8.3"
    answers, total = dominant_answers([{"predicted": "daisy", "count": 8}, {"predicted": "rose", "count": 2},
                                       {"predicted": "daisy", "count": 3}])
    assert answers == [("daisy", 11)] and total == 13


def test_splice_replaces_a_section_in_place_and_appends_a_new_one():
    report = wrap("a", "old a") + "\n\n" + wrap("b", "b") + "\n"
    spliced = splice(report, {"a": wrap("a", "new a"), "c": wrap("c", "c")})
    assert "new a" in spliced and "old a" not in spliced
    assert spliced.index("new a") < spliced.index("section: b") < spliced.index("section: c")


def test_all_sections_render_from_canned_results(tmp_path, data):
    fake = FakeZsclf()
    ctx = Context(data=data, work=tmp_path / "work", out=tmp_path / "docs" / "results.md", plan=make_plan(quick=True),
                  runner=Runner(fake))
    (tmp_path / "work").mkdir()
    text = {section_name(f): f(ctx) for f in SECTIONS if section_name(f) != "charts"}
    assert text["imagenet"].startswith("## ImageNet sample")
    assert "Only *daisy* is one of the CNN's 1,000 training classes" in text["flowers"]
    assert "End to end ≥ 2× the PyTorch-eager baseline: 3.00×: **met**" in text["speed"]
    assert "| GET /v1/search (10,000 photos) | 7.0 | 8.0 | ≤ 20: **met** |" in text["speed"]
    assert "Soak: 500 requests (50.0/s), 0 errors; server RSS 337 MB before, 339 MB after." in text["speed"]
    assert ("ConSE's answers crowd onto the CNN's seen class: 'daisy' takes 2 of the 3 photos in its two most "
            "frequent 2-way confusions." in text["fewshot"])
    assert "| `--hedge 0.9`, ImageNet sample, half b | accuracy ≥ 90.0, ≥ 60.0 % at the true leaf | 90.0, 70.0 % | " \
        "**met** |" in text["hedging"]
    assert "calibrated stacking, GZSL space (1K + unseen species) | H@5 ≥ 1.5× uncalibrated | 2.42×" in text["hedging"]
    assert "the shipped numbers exactly" in text["hedging"]
    assert "| scenes | 8 | 28 | 0.400 / 0.300 / 2.2 | 0.700 / 0.600 / 1.0 |" in text["own_labels"]
    assert len(fake.calls) == len({tuple(c) for c in fake.calls})  # nothing ran twice


def test_charts_are_written_next_to_the_report(tmp_path, data):
    pytest.importorskip("matplotlib")
    chart_section = next(f for f in SECTIONS if section_name(f) == "charts")
    ctx = Context(data=data, work=tmp_path, out=tmp_path / "docs" / "results.md", plan=make_plan(quick=True),
                  runner=Runner(FakeZsclf()))
    markdown = chart_section(ctx)
    assert "![hit@k](img/hit_at_k.png)" in markdown
    assert sorted(p.name for p in (tmp_path / "docs" / "img").iterdir()) == ["hit_at_k.png", "hp_at_k.png",
                                                                             "throughput.png"]
    hedging = next(f for f in SECTIONS if section_name(f) == "hedging")
    assert "![hedging](img/hedging.png)" in hedging(ctx)
    assert (tmp_path / "docs" / "img" / "hedging.png").stat().st_size > 1000
