#!/usr/bin/env python3
"""How long the default 21K index build takes, before (ordered batches) and now, interleaved in one session.

    .venv/bin/python benchmarks/index_build.py [--rounds 2] [--labels labels/imagenet21k.tsv]

Each round builds and saves the index both ways, in turn, with an empty seen-class cache (a fresh install's
build embeds the ImageNet-1K classes too):
  before: the float MiniLM, batches of 32 in character-length order, ONNX Runtime threads spinning, seen classes
          embedded again (the build when issue 18 was filed);
  now:    the defaults (the install's default text model, batches of 64 in token-length order, no spinning, seen
          classes reused from the labels).
Prints wall and CPU seconds per run, the medians and the ratio, and how far the label vectors of the two paths
are apart (max |difference|, min cosine). The machine is shared and noisy: only same-round figures compare.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
FLOAT = "all-minilm-l6-v2"  # the text model before the int8 sibling became the default


def build_once(labels_path: Path, before: bool) -> tuple[float, float, np.ndarray]:
    """(wall s, CPU s, label vectors) of one build of `labels_path` saved into a temporary folder."""
    from zsclf.core.device import SessionConfig
    from zsclf.data.labels import read_labels
    from zsclf.index.store import save_index
    from zsclf.learn.builder import build_index
    from zsclf.models.text_encoder import TextEncoder

    with tempfile.TemporaryDirectory() as tmp:
        models = Path(tmp) / "models"  # the real models, an empty cache of our own
        models.mkdir()
        for item in Path(os.environ.get("ZSCLF_MODELS", ROOT / "models")).iterdir():
            if item.name != "cache":
                (models / item.name).symlink_to(item.resolve())
        saved = os.environ.get("ZSCLF_MODELS")
        os.environ["ZSCLF_MODELS"] = str(models)
        try:
            wall, cpu = time.perf_counter(), time.process_time()
            labels = read_labels(labels_path)
            text = TextEncoder.load(FLOAT if before else None,
                                    config=SessionConfig(device="cpu", spinning=True if before else None))
            if before:
                text.reuse = False
                plain = text.embed
                text.embed = lambda texts, progress=None: plain(texts, 32, progress, "chars")  # type: ignore[method-assign]
            index = build_index(labels, text, source=labels_path.name)
            save_index(index, Path(tmp) / "index")
            return time.perf_counter() - wall, time.process_time() - cpu, index.vectors()
        finally:
            if saved is None:
                del os.environ["ZSCLF_MODELS"]
            else:
                os.environ["ZSCLF_MODELS"] = saved


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--labels", type=Path, default=ROOT / "labels" / "imagenet21k.tsv")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    runs: dict[str, list[tuple[float, float]]] = {"before": [], "now": []}
    vectors: dict[str, np.ndarray] = {}
    for r in range(args.rounds):
        for name in (("before", "now") if r % 2 == 0 else ("now", "before")):
            wall, cpu, vectors[name] = build_once(args.labels, name == "before")
            runs[name].append((wall, cpu))
            print(f"round {r + 1} {name:6s} {wall:7.1f} s wall {cpu:7.1f} s CPU", flush=True)
    med = {name: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v)) for name, v in runs.items()}
    for name, (wall, cpu) in med.items():
        print(f"median {name:6s} {wall:7.1f} s wall {cpu:7.1f} s CPU")
    ratios = [b[0] / n[0] for b, n in zip(runs["before"], runs["now"], strict=True)]
    print(f"ratio before/now (wall): median {med['before'][0] / med['now'][0]:.2f}x, "
          f"per round {', '.join(f'{x:.2f}x' for x in ratios)}")
    a, b = vectors["before"], vectors["now"]
    cosine = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    print(f"label vectors: max |difference| {np.abs(a - b).max():.2e}, cosine mean {cosine.mean():.5f} "
          f"min {cosine.min():.5f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
