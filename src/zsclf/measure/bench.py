"""Speed, stage by stage and end to end, all measured in one run so that ratios mean something.

Stages: decode+preprocess (threads), encoder (preloaded batches), projection, label search,
end-to-end streaming predict; plus batch-1 latency, one-image `predict` cold start as a separate
process, index load time and peak RSS.
"""

from __future__ import annotations

import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ..pipeline.images import load_and_preprocess


def generate_images(folder: Path, count: int = 96, seed: int = 0) -> list[str]:
    """Write `count` smooth random-colour JPEGs (640x480, photo-like sizes) for a benchmark without data."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(count):
        small = rng.integers(0, 256, size=(12, 16, 3), dtype=np.uint8)
        img = Image.fromarray(small).resize((640, 480), Image.Resampling.BICUBIC)
        path = folder / f"generated_{i:04d}.jpg"
        img.save(path, quality=90)
        out.append(str(path))
    return out


def _timed(fn: Callable[[], object], repeats: int = 1) -> tuple[float, object]:
    """Best-of-`repeats` wall time of fn() in seconds (the least disturbed run on a noisy machine), and its result."""
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cold_start(image: str, index: Path | None, repeats: int = 5, model: str | None = None) -> dict:
    """Median wall time of a whole `zsclf predict IMAGE` process (imports, model and index load, one image),
    and the largest peak RSS of those processes."""
    exe = shutil.which("zsclf", path=str(Path(sys.executable).parent)) or shutil.which("zsclf")
    cmd = [exe] if exe else [sys.executable, "-m", "zsclf.cli"]
    cmd += ["predict", image, "--format", "jsonl"] + (["--index", str(index)] if index else []) + \
        (["--model", model] if model else [])
    times, peaks = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        peak_kb, status, usage = _peak_while_running(child.pid)
        times.append(time.perf_counter() - start)
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode:
            stderr = child.stderr.read() if child.stderr else b""
            raise subprocess.CalledProcessError(child.returncode, cmd, stderr=stderr)
        peaks.append((peak_kb or usage.ru_maxrss) / 1024)
    return {"median_s": statistics.median(times), "min_s": min(times), "runs": repeats, "peak_rss_mb": max(peaks)}


def _peak_while_running(pid: int, every: float = 0.005) -> tuple[int, int, object]:
    """(the child's own peak RSS in kB, its wait status, its rusage). Linux keeps a process's ru_maxrss across
    exec, so a child forked from this (large) process reports at least this process's size there; VmHWM in
    /proc/PID/status belongs to the child's own memory map and is polled until it exits (0 where unreadable)."""
    peak = 0
    while True:
        done, status, usage = os.wait4(pid, os.WNOHANG)
        if done:
            return peak, status, usage
        try:
            with open(f"/proc/{pid}/status", "rb") as fh:
                line = next((x for x in fh if x.startswith(b"VmHWM:")), b"VmHWM: 0 kB")
            peak = max(peak, int(line.split()[1]))
        except (OSError, ValueError, IndexError):
            pass
        time.sleep(every)


def readable_images(paths: list[str], threads: int | None = None) -> tuple[list[str], list[str]]:
    """The paths that decode, and a one-line error for each one that does not (a benchmark measures
    the readable ones and says which it skipped)."""
    from ..errors import ImageError
    from ..models.registry import Preprocess

    def attempt(path: str) -> str | None:
        try:
            load_and_preprocess(path, Preprocess())
        except ImageError as exc:
            return str(exc)
        return None

    with ThreadPoolExecutor(threads or None) as pool:
        errors = list(pool.map(attempt, paths))
    return [p for p, e in zip(paths, errors, strict=True) if e is None], [e for e in errors if e is not None]


def benchmark_images(images: list[str] | None, index: Path | None = None, device: str = "auto", limit: int = 256,
                     batch_size: int = 32, threads: int | None = None, repeats: int = 2, cold_runs: int = 5,
                     models: list[str] | None = None) -> dict:
    """`zsclf benchmark`: run `run_benchmark` on up to `limit` of `images` (files or folders; unreadable ones
    are skipped and listed) or on generated photo-like images, on each device asked for; with several
    `models`, their runs interleave (A B B A) and `compare` gives each one's figures over the first's."""
    import itertools
    import tempfile

    from ..data.image_files import expand_inputs
    from ..errors import ZsclfError

    with tempfile.TemporaryDirectory(prefix="zsclf-bench-") as tmp:
        given = list(itertools.islice(expand_inputs(images), limit)) if images else None
        if given == []:  # folders with nothing in them are not a request for generated images
            raise ZsclfError(f"no images found in {', '.join(images or [])}")
        paths, skipped = readable_images(given, threads) if given else (generate_images(Path(tmp), min(limit, 96)), [])
        if not paths:
            raise ZsclfError("no readable images in the inputs" + (f" ({skipped[0]})" if skipped else ""))
        devices = available_devices() if device == "auto" else [device]
        runs = [run for d in devices for run in interleaved(
            lambda m, d=d: run_benchmark(paths, index, d, batch_size, threads, repeats=repeats,
                                         cold_runs=cold_runs if d == "cpu" else 0, model=m), models or [None])]
    result = {"machine": machine(), "source": "given" if images else "generated", "skipped": skipped, "runs": runs}
    if models and len(models) > 1:
        result["compare"] = compare(runs)
    return result


def interleaved(run: Callable[[str | None], dict], models: list[str | None]) -> list[dict]:
    """Each model run twice in the order A B … B A (drift on a shared machine hits them alike), merged
    into one report each: the best speed of the two, the larger peak memory."""
    reports: dict[str | None, list[dict]] = {m: [] for m in models}
    for m in [*models, *reversed(models)] if len(models) > 1 else models:
        reports[m].append(run(m))
    return [merge_runs(r) for r in reports.values()]


def merge_runs(reports: list[dict]) -> dict:
    """One report from runs of the same model: best speeds, best times, worst peak RSS."""
    out = dict(reports[-1])
    out["images_per_s"] = {k: max(r["images_per_s"][k] for r in reports) for k in out["images_per_s"]}
    out["batch1_latency_ms"] = {k: min(r["batch1_latency_ms"][k] for r in reports) for k in out["batch1_latency_ms"]}
    out["index_load_s"] = min(r["index_load_s"] for r in reports)
    out["peak_rss_mb"] = max(r["peak_rss_mb"] for r in reports)
    if "cold_start" in out:
        colds = [r["cold_start"] for r in reports]
        out["cold_start"] = {**min(colds, key=lambda c: c["median_s"]),
                             "peak_rss_mb": max(c["peak_rss_mb"] for c in colds)}
    return out


def compare(runs: list[dict]) -> dict:
    """Per device, each model's speeds over the first model's (> 1: faster), and its cold start and
    one-image peak RSS over the first's (< 1: better)."""
    out: dict[str, dict] = {}
    for run in runs:
        key = f"{run['device']['encoder']}"
        base = next(r for r in runs if r["device"]["encoder"] == key)
        ratios = {f"{stage}_speedup": run["images_per_s"][stage] / base["images_per_s"][stage]
                  for stage in ("encoder", "end_to_end", "decode_preprocess")}
        ratios["batch1_latency"] = run["batch1_latency_ms"]["median"] / base["batch1_latency_ms"]["median"]
        if "cold_start" in run:
            ratios["cold_start"] = run["cold_start"]["median_s"] / base["cold_start"]["median_s"]
            ratios["cold_start_peak_rss"] = run["cold_start"]["peak_rss_mb"] / base["cold_start"]["peak_rss_mb"]
        out.setdefault(key, {})[run["model"]] = ratios
    return out


def run_benchmark(paths: list[str], index: Path | None = None, device: str = "cpu", batch_size: int = 32,
                  threads: int | None = None, top_k: int = 5, repeats: int = 2, cold_runs: int = 5,
                  model: str | None = None) -> dict:
    """Every stage on `paths` (all readable) with one Classifier; returns a dict of figures and ratios."""
    from ..core import paths as locations
    from ..index.store import load_index
    from ..models.registry import model_spec
    from ..pipeline.classifier import Classifier

    image = model_spec(model, "image")  # a joint image tower has a default index of its own
    index_dir = Path(index) if index else locations.default_index_dir(image.name if image.is_joint else None)
    load_s, _ = _timed(lambda: load_index(index_dir), repeats=3)
    clf = Classifier.load(index_dir, device=device, threads=threads, max_k=top_k, image_model=model)
    spec = clf.encoder.preprocess
    n = len(paths)

    def decode(p: str) -> np.ndarray:
        return load_and_preprocess(p, spec)

    with ThreadPoolExecutor(clf.threads) as pool:
        decode_s, arrays = _timed(lambda: list(pool.map(decode, paths)), repeats)
    quarter = paths[: max(1, n // 4)]
    decode_1t_s = _timed(lambda: [decode(p) for p in quarter])[0] * n / len(quarter)
    batches = [np.stack(arrays[i:i + batch_size]) for i in range(0, n, batch_size)]
    clf.encoder.encode(batches[0])  # warm-up
    in_flight = max(1, clf.threads // clf.encoder.threads) if clf.encoder.device == "cpu" else 1  # as encode_stream
    with ThreadPoolExecutor(in_flight) as pool:
        encoder_s, outputs = _timed(lambda: list(pool.map(clf.encoder.encode, batches)), repeats)
    projection_s, projected = _timed(lambda: [clf.projection.project(f, lg) for f, lg in outputs], repeats)
    search_s, _ = _timed(lambda: [clf.index.search(q, top_k) for q in projected], repeats)
    e2e_s, _ = _timed(lambda: sum(1 for _ in clf.predict_paths(paths, top_k=top_k, batch_size=batch_size)), repeats)
    single = [paths[i % n] for i in range(min(20, n))]
    latencies = []
    for p in single:
        start = time.perf_counter()
        list(clf.predict_paths([p], top_k=top_k, batch_size=1))
        latencies.append(time.perf_counter() - start)

    ips = lambda seconds: n / seconds  # noqa: E731
    report = {
        "device": clf.devices,
        "model": clf.encoder.name,
        "images": n,
        "batch_size": batch_size,
        "threads": clf.threads,
        "labels": len(clf.index),
        "images_per_s": {
            "decode_preprocess": ips(decode_s),
            "decode_preprocess_1_thread": ips(decode_1t_s),
            "encoder": ips(encoder_s),
            "projection": ips(projection_s),
            "search": ips(search_s),
            "end_to_end": ips(e2e_s),
        },
        "batch1_latency_ms": {"median": 1000 * statistics.median(latencies), "min": 1000 * min(latencies)},
        "index_load_s": load_s,
        "peak_rss_mb": peak_rss_mb(),
    }
    report["ratios"] = {
        "end_to_end_vs_encoder": report["images_per_s"]["end_to_end"] / report["images_per_s"]["encoder"],
        "decode_vs_encoder": report["images_per_s"]["decode_preprocess"] / report["images_per_s"]["encoder"],
    }
    if cold_runs:
        report["cold_start"] = cold_start(paths[0], index, cold_runs, model)
    return report


def available_devices() -> list[str]:
    """`cpu`, plus `cuda` when onnxruntime offers the CUDA provider."""
    import onnxruntime as ort

    return ["cpu"] + (["cuda"] if "CUDAExecutionProvider" in ort.get_available_providers() else [])


def machine() -> dict:
    """A short description of the machine the figures come from."""
    import platform

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version()}
