"""Device selection logic (the GPU path itself runs only where a GPU is present)."""

from __future__ import annotations

import pytest

from zsclf.core.device import CPU, CUDA, check_in_use, requested_providers, use_faiss_gpu
from zsclf.errors import ZsclfError


def test_cpu_is_always_cpu():
    assert requested_providers("cpu", [CUDA, CPU]) == [CPU]


def test_auto_prefers_cuda_when_available():
    assert requested_providers("auto", [CUDA, CPU]) == [CUDA, CPU]
    assert requested_providers("auto", ["AzureExecutionProvider", CPU]) == [CPU]


def test_cuda_without_provider_is_a_clear_error():
    with pytest.raises(ZsclfError, match="onnxruntime-gpu"):
        requested_providers("cuda", [CPU])


def test_silent_fallback_is_detected():
    assert check_in_use("auto", [CPU]) == "cpu"
    assert check_in_use("auto", [CUDA, CPU]) == "cuda"
    with pytest.raises(ZsclfError, match="failed to load"):
        check_in_use("cuda", [CPU])


def test_faiss_gpu_only_with_gpus_and_small_k():
    assert use_faiss_gpu("auto", 5, gpus=1)
    assert not use_faiss_gpu("auto", 5000, gpus=1)
    assert not use_faiss_gpu("auto", 5, gpus=0)
    assert not use_faiss_gpu("cpu", 5, gpus=2)


def test_unknown_device():
    with pytest.raises(ZsclfError, match="unknown device"):
        requested_providers("tpu", [CPU])
