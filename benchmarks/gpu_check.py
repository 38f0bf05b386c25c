"""The checks of benchmarks/gpu_check.sh: did the encoder run on ONNX Runtime's CUDA provider, and did FAISS
search on the GPU?

    python benchmarks/gpu_check.py INFO_JSON BENCHMARK_JSON [--images 1000]

INFO_JSON is `zsclf info --json`, BENCHMARK_JSON `zsclf benchmark … --device cuda --json`. Exit 0 with a
one-line summary when every check passes, else exit 1 with one line per failed check.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

CUDA = "CUDAExecutionProvider"


def cuda_run(bench: dict) -> dict | None:
    """The benchmark run whose encoder ran on CUDA (None when there is none)."""
    return next((r for r in bench.get("runs", []) if r.get("device", {}).get("encoder") == "cuda"), None)


def problems(info: dict, bench: dict, images: int) -> list[str]:
    """Every way the GPU path did not run as it should (empty when it did)."""
    out = []
    ort = info.get("onnxruntime") or {}
    if CUDA not in (ort.get("available") or []):
        out.append(f"onnxruntime offers no CUDA provider (available: {ort.get('available')}): is onnxruntime-gpu "
                   "installed, and not the CPU onnxruntime over it?")
    elif CUDA not in (ort.get("in_use") or []):
        out.append(f"a session on the image model did not use CUDA (in use: {ort.get('in_use')}; "
                   f"{ort.get('error', 'check the CUDA and cuDNN libraries')})")
    faiss = info.get("faiss") or {}
    if not faiss.get("gpu_build"):
        out.append(f"faiss {faiss.get('version')} is a CPU build: install faiss-gpu")
    elif not faiss.get("gpus"):
        out.append("the FAISS GPU build sees no GPU")
    run = cuda_run(bench)
    if run is None:
        devices = [r.get("device") for r in bench.get("runs", [])]
        out.append(f"the benchmark has no run with the encoder on CUDA (runs: {devices})")
        return out
    if run["device"].get("search") != "cuda":
        out.append(f"FAISS search ran on {run['device'].get('search')}, not on the GPU")
    if run.get("images") != images:
        out.append(f"the benchmark measured {run.get('images')} images, not {images} "
                   f"({len(bench.get('skipped', []))} unreadable)")
    return out


def summary(bench: dict) -> str:
    run = cuda_run(bench) or {}
    speed = run.get("images_per_s", {})
    return (f"GPU check passed: encoder on CUDA, search on {run.get('device', {}).get('search')}; "
            f"{run.get('images')} images, {speed.get('end_to_end', 0):.0f} images/s end to end, "
            f"encoder alone {speed.get('encoder', 0):.0f} images/s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("info", type=Path)
    parser.add_argument("benchmark", type=Path)
    parser.add_argument("--images", type=int, default=1000)
    args = parser.parse_args(argv)
    bench = json.loads(args.benchmark.read_text())
    found = problems(json.loads(args.info.read_text()), bench, args.images)
    for line in found:
        print(f"gpu-check: FAILED: {line}", file=sys.stderr)
    if not found:
        print(summary(bench))
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
