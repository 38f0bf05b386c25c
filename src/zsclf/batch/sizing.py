"""How many Ray workers, with how many threads, how much memory and how many inputs per call.

A worker's peak resident memory in MB, fitted to peak RSS measured here (docs/batch.md, "Memory"):

    250 + index + 41 * runs + 0.037 * batch_size * (runs + 1) + 115 (a Ray actor) + 0.3 * rows (decode stage)

`250`: Python, ONNX Runtime with the EfficientNet-Lite0 session, FAISS, NumPy, pyarrow; `index`: the
label vectors and names (labels * (dim * 4 + 120) bytes: 34 MB for the 21K index); `41` MB per
concurrent ONNX Runtime run (its arena for the encoder's sub-batches of 4; `runs` = threads on the CPU,
1 when a CPU stage decodes for the worker); 37 KB per image of the batches in flight (the encode loop
keeps threads + 1 batches' outputs, pixels only a few images ahead); with a decode stage, the block of
`rows` preprocessed images the worker receives (150 KB each) and its copy. On a GPU the encoder runs a
whole batch at once: its activations live on the GPU, but the CUDA context's host memory is not in
this formula (not measured: no GPU here).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import ZsclfError

MB = 1 << 20
BASE_MB = 250.0
RUN_MB = 41.0  # per concurrent ONNX Runtime run
OUTPUT_MB_PER_IMAGE = 0.037  # per image of the threads + 1 batches in flight
RAY_WORKER_MB = 115.0  # a Ray actor's peak over the same work in the local engine (measured: 113-118 MB)
SPLIT_MB_PER_ROW = 0.3
LABEL_BYTES = 120  # a label's name, id and Python objects, beside its vector
HEADROOM = 1.2  # what a worker asks Ray for, over the estimate
DEFAULT_THREADS = 1  # threads per CPU worker: one actor per core was faster here (docs/batch.md)
CALLS_PER_WORKER = 4  # inputs are cut into at least this many calls per worker, so that all get work


def worker_memory_mb(threads: int, batch_size: int = 32, labels: int = 21841, dim: int = 384, split_rows: int = 0,
                     ray: bool = True) -> float:
    """Estimated peak RSS of one worker (the module's formula); `ray=False` for the local engine's process."""
    runs = 1 if split_rows else threads
    index = labels * (dim * 4 + LABEL_BYTES) / MB
    return (BASE_MB + index + RUN_MB * runs + OUTPUT_MB_PER_IMAGE * batch_size * (runs + 1)
            + (RAY_WORKER_MB if ray else 0.0) + SPLIT_MB_PER_ROW * split_rows)


@dataclass
class Plan:
    workers: int
    threads: int
    memory_bytes: int
    rows: int  # inputs per call (a multiple of the batch size)
    notes: list[str] = field(default_factory=list)


def plan_workers(resources: dict, request, inputs: int, labels: int = 21841, dim: int = 384) -> Plan:
    """Workers for `request` on a cluster with `resources` (ray.cluster_resources()): as many as its CPUs
    (or GPUs) and memory allow and the inputs can keep busy; `--workers` must fit."""
    gpus, batch = request.gpus_per_worker, request.batch_size
    threads = 1 if request.splits else (request.classifier.threads or DEFAULT_THREADS)
    max_rows = request.rows_per_call
    memory = int(worker_memory_mb(threads, batch, labels, dim, max_rows if request.splits else 0) * HEADROOM * MB)
    cpus, have_gpus, have_memory = resources.get("CPU", 0), resources.get("GPU", 0), resources.get("memory", 0)
    if gpus:
        fit = int(have_gpus // gpus)
        what = f"{gpus:g} GPU(s) each, the cluster has {have_gpus:g}"
    else:
        fit = int(cpus // threads)
        what = f"{threads} CPU(s) each (--threads), the cluster has {cpus:g}"
    if have_memory:
        fit = min(fit, int(have_memory // memory))
        what += f"; {memory / (1 << 30):.2f} GiB each, the cluster has {have_memory / (1 << 30):.1f} GiB for workers"
    if fit < 1 or (request.workers or 0) > fit:
        raise ZsclfError(f"{request.workers or 1} worker(s) do not fit: {what}")
    workers = request.workers or max(1, min(fit, -(-inputs // batch)))
    per_call = -(-inputs // (workers * CALLS_PER_WORKER))
    rows = min(max_rows, -(-per_call // batch) * batch)
    return Plan(workers, threads, memory, rows,
                [f"{workers} worker(s) of {threads} thread(s), {memory / MB:.0f} MB each, {rows} inputs per call"])
