"""How many Ray workers, with how many threads and how much memory each (measured: docs/batch.md).

A worker's peak resident memory, in MB:

    base + index + per_thread * threads + per_image * batch_size * (threads + 1)

`base`: Python, ONNX Runtime, FAISS, NumPy and the image model's session; `index`: the label vectors
(labels * dim * 4 bytes) and names; `per_thread`: one ONNX Runtime run's arena at batch size 32;
`per_image`: a decoded, preprocessed image in flight (the encode loop decodes threads + 1 batches ahead).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import ZsclfError

MB = 1 << 20
BASE_MB = 330.0
PER_THREAD_MB = 90.0
PER_IMAGE_MB = 1.0
LABEL_BYTES = 120  # a label's name, id and Python objects, beside its vector
HEADROOM = 1.25  # Ray kills a worker above its memory request only if asked to; this keeps the request honest
DEFAULT_THREADS = 2  # threads per CPU worker (measured: docs/batch.md)


def worker_memory_mb(threads: int, batch_size: int = 32, labels: int = 21841, dim: int = 384) -> float:
    """Estimated peak RSS of one worker (see the module's formula)."""
    index = labels * (dim * 4 + LABEL_BYTES) / MB
    return BASE_MB + index + PER_THREAD_MB * threads * batch_size / 32 + PER_IMAGE_MB * batch_size * (threads + 1)


@dataclass
class Plan:
    workers: int
    threads: int
    memory_bytes: int
    notes: list[str] = field(default_factory=list)


def plan_workers(resources: dict, request, inputs: int, labels: int = 21841, dim: int = 384) -> Plan:
    """Workers for `request` on a cluster with `resources` (ray.cluster_resources()): as many as its CPUs
    (or GPUs) and memory allow, no more than there are blocks of inputs; `--workers` must fit."""
    gpus = request.gpus_per_worker
    threads = 1 if request.splits else (request.classifier.threads or DEFAULT_THREADS)
    memory = int(worker_memory_mb(threads, request.batch_size, labels, dim) * HEADROOM * MB)
    cpus, have_gpus, have_memory = resources.get("CPU", 0), resources.get("GPU", 0), resources.get("memory", 0)
    if gpus:
        fit = int(have_gpus // gpus)
        what = f"{gpus:g} GPU(s) each, the cluster has {have_gpus:g}"
    else:
        fit = int(cpus // threads)
        what = f"{threads} CPU(s) each (--threads), the cluster has {cpus:g}"
    if have_memory:
        fit = min(fit, int(have_memory // memory))
        what += f" and {have_memory / (1 << 30):.1f} GiB for workers of {memory / (1 << 30):.2f} GiB"
    if fit < 1 or (request.workers or 0) > fit:
        raise ZsclfError(f"{request.workers or 1} worker(s) do not fit: {what}")
    blocks = -(-inputs // request.rows_per_call)
    workers = request.workers or max(1, min(fit, blocks))
    return Plan(workers, threads, memory, [f"{workers} worker(s) of {threads} thread(s), {memory / MB:.0f} MB each"])
