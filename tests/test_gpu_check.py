"""The GPU check's logic, without a GPU: benchmarks/gpu_check.py on canned JSON (and on this machine's real
`info`/`benchmark` JSON, which must fail), and gpu_check.sh refusing to run where there is no GPU."""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import subprocess

import pytest

from conftest import IMAGES, ROOT, run_cli

spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "benchmarks" / "gpu_check.py")
gpu_check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gpu_check)

INFO = {"onnxruntime": {"available": ["CUDAExecutionProvider", "CPUExecutionProvider"],
                        "in_use": ["CUDAExecutionProvider", "CPUExecutionProvider"], "device": "cuda"},
        "faiss": {"version": "1.15.1", "gpu_build": True, "gpus": 1, "search_device": "cuda"}}
BENCH = {"source": "given", "skipped": [],
         "runs": [{"device": {"encoder": "cuda", "search": "cuda"}, "images": 1000,
                   "images_per_s": {"end_to_end": 2400.0, "encoder": 5100.0}}]}


def test_a_run_on_cuda_passes(tmp_path, capsys):
    assert gpu_check.problems(INFO, BENCH, 1000) == []
    (tmp_path / "i.json").write_text(json.dumps(INFO))
    (tmp_path / "b.json").write_text(json.dumps(BENCH))
    assert gpu_check.main([str(tmp_path / "i.json"), str(tmp_path / "b.json")]) == 0
    assert "2400 images/s end to end" in capsys.readouterr().out


@pytest.mark.parametrize("change, expected", [
    (lambda i, b: i["onnxruntime"].update(available=["CPUExecutionProvider"]), "no CUDA provider"),
    (lambda i, b: i["onnxruntime"].update(in_use=["CPUExecutionProvider"]), "did not use CUDA"),
    (lambda i, b: i["faiss"].update(gpu_build=False), "CPU build"),
    (lambda i, b: i["faiss"].update(gpus=0), "sees no GPU"),
    (lambda i, b: b["runs"][0]["device"].update(encoder="cpu"), "no run with the encoder on CUDA"),
    (lambda i, b: b["runs"][0]["device"].update(search="cpu"), "search ran on cpu"),
    (lambda i, b: b["runs"][0].update(images=998), "998 images, not 1000"),
])
def test_each_way_the_gpu_path_can_fall_back_is_caught(change, expected):
    info, bench = copy.deepcopy(INFO), copy.deepcopy(BENCH)
    change(info, bench)
    found = gpu_check.problems(info, bench, 1000)
    assert len(found) == 1 and expected in found[0], found


def test_this_cpu_machines_real_output_fails_the_check(default_index):
    info = json.loads(run_cli("info", "--json", "--no-checksums", expect=0).stdout)
    bench = json.loads(run_cli("benchmark", str(IMAGES), "--device", "cpu", "--repeats", "1", "--cold-runs", "0",
                               "--json", expect=0).stdout)
    if "CUDAExecutionProvider" in info["onnxruntime"]["available"]:
        pytest.skip("this machine has CUDA: the real check is `make gpu-check`")
    found = gpu_check.problems(info, bench, 5)
    assert any("no CUDA provider" in p for p in found) and any("encoder on CUDA" in p for p in found)


def test_the_script_refuses_to_run_without_a_gpu(tmp_path):
    env = {**os.environ, "PATH": f"{tmp_path}:/usr/bin:/bin", "GPU_VENV": str(tmp_path / "venv")}
    (tmp_path / "nvidia-smi").write_text("#!/bin/sh\necho 'No devices were found' >&2\nexit 6\n")
    (tmp_path / "nvidia-smi").chmod(0o755)
    proc = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh")], capture_output=True, text=True,
                          env=env, timeout=60)
    assert proc.returncode == 2 and "no NVIDIA GPU" in proc.stderr
    assert not (tmp_path / "venv").exists()
