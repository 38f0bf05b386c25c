#!/usr/bin/env python3
"""What `predict --labels` costs over `predict --index` with the same labels prebuilt: whole processes, interleaved.

    .venv/bin/python benchmarks/labels_startup.py [--labels N] [--rounds 11]

Each round runs, in turn: `predict PHOTO --index PREBUILT`, `predict PHOTO --labels LIST` (cached: the entry is
made before the first round) and, for the first call's cost, `--labels` with a label set never seen before
(a fresh random label each round, so it is embedded every time). Prints the wall-time medians and the
differences against the prebuilt index (the machine is noisy: only same-round comparisons count).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PHOTO = str(ROOT / "tests" / "images" / "chelsea.png")
WORDS = ("cat dog car bird boat horse plane train truck house tree flower beach mountain forest street kitchen "
         "bedroom river lake bridge tower road field garden desk chair table lamp phone").split()


def labels(n: int) -> list[str]:
    """n distinct plain labels (combinations of common words)."""
    out = [f"{a} {b}" if a != b else a for a in WORDS for b in WORDS]
    return list(dict.fromkeys(out))[:n]


def run(*args: str) -> float:
    """Wall seconds of one `zsclf predict` process (which must succeed)."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "zsclf.cli", "predict", PHOTO, "-k", "3", "-f", "jsonl", *args],
                   check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=11)
    args = parser.parse_args()
    names = labels(args.labels)
    listed = ", ".join(names)
    with tempfile.TemporaryDirectory() as tmp:
        label_file = Path(tmp) / "labels.txt"
        label_file.write_text("\n".join(names) + "\n")
        subprocess.run([sys.executable, "-m", "zsclf.cli", "build-index", str(label_file), "-o", f"{tmp}/x.index",
                        "-q"], check=True)
        run("--labels", listed)  # the cached entry
        times: dict[str, list[float]] = {"index": [], "labels (cached)": [], "labels (first call)": []}
        for _ in range(args.rounds):
            times["index"].append(run("--index", f"{tmp}/x.index"))
            times["labels (cached)"].append(run("--labels", listed))
            times["labels (first call)"].append(run("--labels", listed + f", {uuid.uuid4().hex[:8]}"))
    base = statistics.median(times["index"])
    print(f"{args.labels} labels, {args.rounds} interleaved rounds, wall-time medians:")
    for name, values in times.items():
        diffs = [v - i for v, i in zip(values, times["index"], strict=True)]
        print(f"  {name:<20} {statistics.median(values):.3f} s  (vs index: {statistics.median(diffs):+.3f} s "
              f"median of same-round differences)" if name != "index" else f"  {name:<20} {base:.3f} s")


if __name__ == "__main__":
    main()
