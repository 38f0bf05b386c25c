"""`zsclf batch` against `zsclf predict`, back to back on the same photos (docs/batch.md).

    python benchmarks/batch_bench.py ../shared/data/imagenet-sample [--limit 1000] [--rounds 2] [--json OUT]
    python benchmarks/batch_bench.py ../shared/data/imagenet-sample --memory [--limit 320]

Each round runs, as separate processes: `predict - --format jsonl` (stdout to /dev/null), `batch
--engine local`, `batch --engine ray` with 1 worker of all cores' threads and with one 1-thread worker
per core; then each on one photo (start-up). Per run: wall time and images/s, time to the first result, and peak
RSS of the driver and of each Ray worker (VmHWM from /proc, polled while it runs). Speed on a shared
machine is noisy: compare the ratios within a round.

`--memory`: peak RSS (/usr/bin/time -v) of `batch --engine local` (one process = one worker) for a grid of
threads and batch sizes, and of a run on one image, the figures behind batch/sizing.py's formula.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ZSCLF = [sys.executable, "-m", "zsclf.cli"]


def vm_hwm_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


class WorkerWatch(threading.Thread):
    """Peak RSS of every Ray actor process (`ray::MapWorker…`) seen while the run lasts."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peaks: dict[int, float] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            for pid in (int(p) for p in os.listdir("/proc") if p.isdigit()):
                try:
                    name = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
                except OSError:
                    continue
                if name.startswith(b"ray::") and b"MapWorker" in name and (hwm := vm_hwm_mb(pid)):
                    self.peaks[pid] = max(self.peaks.get(pid, 0.0), hwm)
            self.stop.wait(0.2)


def timed(cmd: list[str], stdin: bytes | None = None, watch: bool = False, env: dict | None = None) -> dict:
    watcher = WorkerWatch() if watch else None
    if watcher:
        watcher.start()
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, **(env or {})})
    out, err = proc.communicate(stdin)
    wall = time.perf_counter() - start
    if watcher:
        watcher.stop.set()
        watcher.join()
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {err.decode()[-2000:]}")
    return {"wall_s": wall, "stdout": out, "workers_peak_rss_mb": sorted(watcher.peaks.values()) if watcher else None}


def peak_rss_of(cmd: list[str], stdin: bytes | None = None) -> float:
    """Peak RSS (MB) of a command's own process, from /usr/bin/time -v."""
    proc = subprocess.run(["/usr/bin/time", "-v", *cmd], input=stdin, capture_output=True)
    for line in proc.stderr.decode().splitlines():
        if "Maximum resident set size" in line:
            return int(line.split()[-1]) / 1024
    return float("nan")


def memory_grid(paths: list[str], tmp: str) -> dict:
    listing = Path(tmp) / "memory.txt"
    listing.write_text("\n".join(paths) + "\n")
    out = {"one_image": peak_rss_of(ZSCLF + ["batch", paths[0], "-q", "-o", f"{tmp}/m-one"])}
    for threads in (1, 2):
        for batch in (8, 32, 64):
            name = f"threads{threads}_batch{batch}"
            out[name] = peak_rss_of(ZSCLF + ["batch", str(listing), "-q", "-o", f"{tmp}/m-{name}", "--threads",
                                             str(threads), "--batch-size", str(batch)])
            print(f"{name}: {out[name]:.0f} MB", file=sys.stderr)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("images", type=Path)
    parser.add_argument("--limit", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--memory", action="store_true", help="peak RSS for a grid of threads and batch sizes")
    parser.add_argument("--only", help="comma-separated runs (predict,local,ray_1xN,ray_Nx1); default: all")
    parser.add_argument("--ray-niceness", type=int, default=0,
                        help="RAY_worker_niceness for the Ray runs (Ray's default is 15: its workers yield to every "
                             "other process, which on a shared machine measures the neighbours; 0 = as predict)")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from zsclf.data.image_files import walk_images

    paths = [str(p.absolute()) for p in walk_images(args.images)][: args.limit]
    cores = len(os.sched_getaffinity(0))
    if args.memory:
        with tempfile.TemporaryDirectory(prefix="zsclf-batch-bench-") as tmp:
            report = {"images": len(paths), "peak_rss_mb": memory_grid(paths, tmp)}
        print(json.dumps(report, indent=2))
        if args.json:
            args.json.write_text(json.dumps(report, indent=2) + "\n")
        return
    with tempfile.TemporaryDirectory(prefix="zsclf-batch-bench-") as tmp:
        listing = Path(tmp) / "paths.txt"
        listing.write_text("\n".join(paths) + "\n")
        runs = {
            "predict": (ZSCLF + ["predict", "-", "--format", "jsonl"], "\n".join(paths).encode()),
            "local": (ZSCLF + ["batch", str(listing), "--engine", "local", "--json", "-q"], None),
            f"ray_1x{cores}": (ZSCLF + ["batch", str(listing), "--engine", "ray", "--workers", "1",
                                        "--threads", str(cores), "--json", "-q"], None),
            f"ray_{cores}x1": (ZSCLF + ["batch", str(listing), "--engine", "ray", "--workers", str(cores),
                                        "--threads", "1", "--json", "-q"], None),
        }
        if args.only:
            runs = {name: run for name, run in runs.items() if name in args.only.split(",")}
        rounds = []
        for r in range(args.rounds):
            result = {}
            for name, (cmd, stdin) in runs.items():
                if name != "predict":
                    cmd = cmd + ["-o", f"{tmp}/out-{name}-{r}"]
                ray_env = {"RAY_worker_niceness": str(args.ray_niceness)} if name.startswith("ray") else None
                run = timed(cmd, stdin, watch=name.startswith("ray"), env=ray_env)
                stdout = run.pop("stdout")
                outcome = json.loads(stdout) if name != "predict" else {}
                run["images_per_s"] = len(paths) / run["wall_s"]
                run["first_result_s"] = outcome.get("first_result_s")
                run["scoring_s"] = outcome.get("seconds")
                result[name] = run
                print(f"round {r}: {name}: {run['wall_s']:.1f} s, {run['images_per_s']:.1f} images/s, first result "
                      f"{run['first_result_s']}, workers' peak RSS {run['workers_peak_rss_mb']}", file=sys.stderr)
            if "predict" in result and "local" in result:
                result["local_vs_predict"] = result["predict"]["wall_s"] / result["local"]["wall_s"]
            rounds.append(result)
        one = {}  # start-up: the whole command on one photo
        for name, (cmd, _) in runs.items():
            cmd = [c if c != str(listing) else paths[0] for c in cmd if c != "-"]
            cmd = cmd + ([paths[0]] if name == "predict" else [])
            ray_env = {"RAY_worker_niceness": str(args.ray_niceness)} if name.startswith("ray") else None
            times = [timed(cmd + ([] if name == "predict" else ["-o", f"{tmp}/one-{name}-{i}"]), env=ray_env)["wall_s"]
                     for i in range(3)]
            one[name] = statistics.median(times)
            print(f"one photo: {name}: {one[name]:.2f} s", file=sys.stderr)
        peaks = {name: peak_rss_of(cmd + ([] if name == "predict" else ["-o", f"{tmp}/out-rss-{name}"]), stdin)
                 for name, (cmd, stdin) in runs.items() if not name.startswith("ray")}
    report = {"images": len(paths), "cores": cores, "ray_worker_niceness": args.ray_niceness, "rounds": rounds,
              "peak_rss_mb": peaks, "one_photo_s": one,
              "local_vs_predict_median": statistics.median([r["local_vs_predict"] for r in rounds
                                                            if "local_vs_predict" in r] or [float("nan")])}
    text = json.dumps(report, indent=2)
    if args.json:
        args.json.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
