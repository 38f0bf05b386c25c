#!/usr/bin/env bash
# GPU check (`make gpu-check`; docs/batch.md): on a machine with an NVIDIA GPU, make a venv with the `gpu`
# extra, run the test suite, `zsclf info` and `zsclf benchmark --device cuda --json` on the 1,000 ImageNet
# sample photos, and fail unless the encoder ran on ONNX Runtime's CUDA provider and FAISS searched on the GPU
# (the checks: benchmarks/gpu_check.py). Outputs go to $GPU_CHECK_OUT (default gpu-check/).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${GPU_VENV:-.venv-gpu}
DATA=${ZSCLF_SHARED_DATA:-../shared/data}
OUT=${GPU_CHECK_OUT:-gpu-check}

if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L; then
    echo "gpu-check: no NVIDIA GPU here (nvidia-smi is missing or sees none)" >&2
    exit 2
fi
[ -d "$DATA/imagenet-sample" ] || { echo "gpu-check: $DATA/imagenet-sample is missing" >&2; exit 2; }
# models and the default index come from the CPU set-up (exporting needs torch, not a GPU)
[ -f models/efficientnet-lite0.onnx ] && [ -f indexes/imagenet21k/meta.json ] || make setup

"$PYTHON" -m venv "$VENV"
"$VENV/bin/pip" install --quiet --upgrade pip
"$VENV/bin/pip" install --quiet -e '.[gpu,dev,ray]'
# zsclf depends on the CPU builds; the GPU builds share their module names: remove the CPU ones, then
# reinstall the GPU ones over the files that uninstall took away
"$VENV/bin/pip" uninstall --quiet -y onnxruntime faiss-cpu
"$VENV/bin/pip" install --quiet --force-reinstall --no-deps onnxruntime-gpu faiss-gpu

mkdir -p "$OUT"
"$VENV/bin/python" -m pytest -q 2>&1 | tee "$OUT/pytest.txt"
"$VENV/bin/zsclf" info --json > "$OUT/info.json"
"$VENV/bin/zsclf" benchmark "$DATA/imagenet-sample" --device cuda --limit 1000 --json > "$OUT/benchmark.json"
"$VENV/bin/python" benchmarks/gpu_check.py "$OUT/info.json" "$OUT/benchmark.json" --images 1000
