"""Choosing where to run: ONNX Runtime execution providers and FAISS GPUs.

`--device auto` uses CUDA only when it really works: the CUDA provider must be *in use* by a
created session (ONNX Runtime silently falls back to CPU when CUDA libraries fail to load), and
FAISS must be a GPU build that sees at least one GPU.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import ZsclfError

DEVICES = ("auto", "cpu", "cuda")
CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
FAISS_GPU_MAX_K = 2048  # FAISS GPU search supports k <= 2048; beyond it we search on the CPU


def requested_providers(device: str, available: Sequence[str]) -> list[str]:
    """The providers to ask a session for, given `--device` and ORT's available providers."""
    if device not in DEVICES:
        raise ZsclfError(f"unknown device {device!r}: choose one of {', '.join(DEVICES)}")
    if device == "cpu":
        return [CPU]
    if CUDA in available:
        return [CUDA, CPU]
    if device == "cuda":
        raise ZsclfError(
            "--device cuda: onnxruntime has no CUDA provider (install the `gpu` extra: onnxruntime-gpu)"
        )
    return [CPU]


def check_in_use(device: str, in_use: Sequence[str]) -> str:
    """Name the device a created session really runs on; refuse a silent CPU fallback for `--device cuda`."""
    if CUDA in in_use:
        return "cuda"
    if device == "cuda":
        raise ZsclfError("--device cuda: the CUDA provider failed to load (check the CUDA/cuDNN libraries)")
    return "cpu"


def faiss_gpu_count() -> int:
    """Number of GPUs FAISS can use (0 for a CPU build)."""
    import faiss

    get = getattr(faiss, "get_num_gpus", None)
    return int(get()) if get else 0


def use_faiss_gpu(device: str, k: int, gpus: int | None = None) -> bool:
    """Whether label search should run on a FAISS GPU index."""
    if device == "cpu":
        return False
    gpus = faiss_gpu_count() if gpus is None else gpus
    if device == "cuda" and gpus == 0:
        return False  # ONNX Runtime may still use CUDA; FAISS stays on CPU and says so in `info`
    return gpus > 0 and k <= FAISS_GPU_MAX_K


def default_threads() -> int:
    """Threads for compute: the cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def clamp_threads(requested: int | None) -> tuple[int, str | None]:
    """Compute threads to use and, when the request had to be lowered, a note saying so.

    At most one per core: each thread runs its own encoder batch, so a thread beyond the cores adds
    memory (activations, decoded pixels) but no speed.
    """
    cores = default_threads()
    if requested is None or requested <= cores:
        return requested or cores, None
    return cores, f"--threads {requested}: using {cores}, the cores available (more threads add memory, not speed)"


@dataclass(frozen=True)
class SessionConfig:
    """How to build an ONNX Runtime session."""

    device: str = "auto"
    threads: int | None = None
    # "all" (default) or "basic": ONNX Runtime's graph optimisation at load. "basic" loads MiniLM in
    # 0.17 s of CPU instead of 0.30 s with the same run time (measured): `zsclf search` uses it.
    optimization: str = "all"
    # Whether idle intra-op threads spin waiting for work (ONNX Runtime's default: True). Off, MiniLM embedded
    # the 21K labels in about half the wall time on this shared 2-core machine (docs/index_build.md): spinning
    # threads compete with the threads doing the work. None: the model's choice (the text encoder turns it off).
    spinning: bool | None = None


def create_session(model_path: str, config: SessionConfig):
    """An ONNX Runtime InferenceSession on the requested device, with deliberate thread settings.

    Returns (session, device_in_use).
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = config.threads or default_threads()
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = (ort.GraphOptimizationLevel.ORT_ENABLE_BASIC if config.optimization == "basic"
                                        else ort.GraphOptimizationLevel.ORT_ENABLE_ALL)
    options.log_severity_level = 3
    if config.spinning is False:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    providers = requested_providers(config.device, ort.get_available_providers())
    try:
        session = ort.InferenceSession(model_path, sess_options=options, providers=providers)
    except Exception as exc:  # onnxruntime raises its own exception types
        raise ZsclfError(f"cannot load ONNX model {model_path}: {str(exc).splitlines()[0]}") from None
    return session, check_in_use(config.device, session.get_providers())
