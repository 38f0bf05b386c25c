"""Speed of your own models against EfficientNet-Lite0 (issue 20): an OpenCLIP RN50 pair and a timm ConvNeXt-Tiny
with 21,841 classes, exported with random weights (speed does not depend on them), imported with
`zsclf setup --import` into a home of their own, then measured with `zsclf benchmark --model ...` (runs
interleaved, ratios to Lite0 in the same run). Also: the pair's text tower on 21K label glosses, padded to each
batch's longest text (what zsclf does) or to 77 tokens (what OpenCLIP's graph needed), and the time to build the
pair's own 21K index.

    .venv/bin/python benchmarks/own_models_speed.py [--images ../shared/data/imagenet-sample] [--work DIR]

Needs the `foreign` extra (torch, timm, open_clip) for the exports. Prints a Markdown table and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAIR, CNN = "clip-rn50", "convnext-tiny-21k"
EXPORTS = {PAIR: ["--openclip", "RN50"], CNN: ["--timm", "convnext_tiny:fb_in22k"]}


def zsclf(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "ZSCLF_HOME": str(home), "ZSCLF_MODELS": "", "ZSCLF_INDEX": "", "ZSCLF_LABELS": ""}
    return subprocess.run([sys.executable, "-m", "zsclf.cli", *args], env=env, check=True, capture_output=True,
                          text=True)


def make_home(work: Path) -> Path:
    """A home with the checkout's models (linked), the default index (linked) and the two models imported."""
    home = work / "home"
    if (home / "models" / f"{PAIR}.onnx").exists() and (home / "models" / f"{CNN}.onnx").exists():
        return home
    shutil.rmtree(home, ignore_errors=True)
    (home / "models").mkdir(parents=True)
    (home / "indexes").mkdir()
    for path in (ROOT / "models").iterdir():
        if path.is_file() and path.name != "manifest.json":
            (home / "models" / path.name).symlink_to(path.resolve())
    shutil.copy(ROOT / "models" / "manifest.json", home / "models")
    (home / "indexes" / "imagenet21k").symlink_to((ROOT / "indexes" / "imagenet21k").resolve())
    for name, how in EXPORTS.items():
        out = work / "export" / name
        if not (out / "zsclf-model.json").exists():
            subprocess.run([sys.executable, str(ROOT / "tools" / "export_models.py"), *how, "--random", "--out",
                            str(out), "--name", name], check=True, capture_output=True)
        zsclf(home, "setup", "--import", str(out), "--quiet")
    return home


def text_speed(home: Path, count: int = 1024, rounds: int = 2) -> dict:
    """Texts per second on `count` sampled 21K glosses: MiniLM, and the pair's text tower padded to the longest
    text of each batch or to 77 tokens (the same graph), interleaved."""
    os.environ.update({"ZSCLF_HOME": str(home), "ZSCLF_MODELS": "", "ZSCLF_LABELS": ""})
    from zsclf.data.labels import imagenet21k_path, read_labels
    from zsclf.models.text_encoder import TextEncoder

    texts = random.Random(0).sample(read_labels(imagenet21k_path()).texts("gloss"), count)
    encoders = {"all-minilm-l6-v2": TextEncoder.load("all-minilm-l6-v2"),
                f"{PAIR}-text (longest in batch)": TextEncoder.load(f"{PAIR}-text"),
                f"{PAIR}-text (77 tokens)": TextEncoder.load(f"{PAIR}-text")}
    encoders[f"{PAIR}-text (77 tokens)"].context_length = 77
    best: dict[str, float] = {}
    for _ in range(rounds):
        for name, encoder in encoders.items():
            encoder.reuse = False
            start = time.perf_counter()
            encoder.embed(texts)
            best[name] = max(best.get(name, 0.0), count / (time.perf_counter() - start))
    return {name: round(v, 1) for name, v in best.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", default=str(ROOT.parent / "shared" / "data" / "imagenet-sample"))
    parser.add_argument("--work", type=Path, default=Path("/tmp/zsclf-own-models"))
    parser.add_argument("--limit", type=int, default=256)
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON here")
    args = parser.parse_args()
    home = make_home(args.work)
    report: dict = {"text_per_s": text_speed(home)}
    pair_index = home / "indexes" / f"imagenet21k-{PAIR}"
    if not (pair_index / "CURRENT").exists():
        start = time.perf_counter()
        zsclf(home, "build-index", str(ROOT / "labels" / "imagenet21k.tsv"), "--model", PAIR, "-o", str(pair_index),
              "--quiet")
        report["pair_21k_index_build_s"] = round(time.perf_counter() - start, 1)
    bench = json.loads(zsclf(home, "benchmark", args.images, "--limit", str(args.limit), "--json", "--cold-runs", "3",
                             "--model", "efficientnet-lite0", "--model", PAIR, "--model", CNN).stdout)
    report["benchmark"] = {run["model"]: {k: run[k] for k in ("images_per_s", "batch1_latency_ms", "peak_rss_mb",
                                                                  "cold_start")} for run in bench["runs"]}
    report["compare"] = bench["compare"]
    report["machine"] = bench["machine"]
    print(json.dumps(report, indent=2))
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
