"""--engine ray: the unit of work in Ray Data actors, one `Classifier` per actor (models and index
loaded once per actor), on a local Ray instance or an existing cluster (`--address`).

    paths (driver) -> map_batches(Scorer, actors = workers, num_cpus = threads, num_gpus, memory)
                   -> result tables back to the driver -> Parquet parts (batch.sink)

With GPUs (or `--split-decode`) images are decoded by CPU tasks that feed the actors preprocessed
pixels (`Classifier.score_pixels`), so GPU actors never wait on Pillow. Workers import zsclf from the
driver's location when it exists on their node (a checkout on a shared filesystem, or this machine),
else their own installation; they find the models the driver uses (ZSCLF_MODELS is passed on) or,
with `--ship-models`, receive them through the object store (batch.ship).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ..core import paths as locations
from ..errors import ZsclfError
from ..models.registry import Preprocess, model_spec
from ..pipeline.classifier import Classifier, ClassifierConfig
from ..pipeline.images import decode_batches
from . import ship
from .sizing import Plan, plan_workers

RAY_HINT = "pip install 'zsclf[ray]'"


def import_ray(address: str | None = None):
    """The ray module with Ray Data, or a ZsclfError naming the extra. To join a cluster (`address`) with a
    token at hand, token authentication is asked for before ray is imported: Ray 2.60 turns it on for a
    cluster that `ray start` began where ~/.ray/auth_token exists, but a driver joining it sends no token
    unless RAY_AUTH_MODE says so when ray is imported (seen here)."""
    token = os.environ.get("RAY_AUTH_TOKEN") or os.environ.get("RAY_AUTH_TOKEN_PATH") or \
        (Path.home() / ".ray" / "auth_token").is_file()
    if address and address != "local" and token and "RAY_AUTH_MODE" not in os.environ and "ray" not in sys.modules:
        os.environ["RAY_AUTH_MODE"] = "token"
    try:
        import pyarrow  # noqa: F401
        import ray
        import ray.data  # noqa: F401
    except ImportError as exc:
        raise ZsclfError(f"--engine ray needs Ray Data and pyarrow ({exc.name} is missing): {RAY_HINT}") from None
    return ray


class Scorer:
    """The Ray Data callable class: one Classifier per actor, `score_paths` per batch of paths."""

    def __init__(self, config: ClassifierConfig, options: dict, shipped: list | None = None) -> None:
        if shipped:
            import ray

            config = ship.use_unpacked(ship.unpack(ray.get(shipped[0])), config)
        try:
            self.clf = Classifier.from_config(config)
        except ZsclfError as exc:
            import socket

            hint = "" if shipped else " (workers read the driver's models and index at the same paths: use a " \
                                      "shared ZSCLF_HOME, or --ship-models)"
            raise ZsclfError(f"worker on {socket.gethostname()}: {exc}{hint}") from None
        self.options = options

    def __call__(self, batch):
        return self.clf.score_paths(batch.column("path").to_pylist(), **self.options)


class PixelScorer(Scorer):
    """Like Scorer, for batches a CPU stage decoded (`decode_pixels`)."""

    def __call__(self, batch):
        errors = [str(e) if e else None for e in batch["error"]]
        ok = np.array([e is None for e in errors], dtype=bool)
        return self.clf.score_pixels([str(p) for p in batch["path"]], batch["pixels"][ok], errors, **self.options)


def decode_pixels(batch, spec: Preprocess, threads: int = 1) -> dict:
    """CPU stage: paths -> preprocessed pixels (zeros where decoding failed) and the reasons it failed."""
    paths = batch.column("path").to_pylist()
    pixels = np.zeros((len(paths), spec.size, spec.size, 3), dtype=np.uint8)
    errors = []
    with ThreadPoolExecutor(threads) as pool:
        decoded = next(decode_batches(paths, spec, max(1, len(paths)), pool, ahead=1), [])
    for i, (_, outcome) in enumerate(decoded):
        if isinstance(outcome, np.ndarray):
            pixels[i] = outcome
            errors.append("")
        else:
            errors.append(outcome.reason)
    return {"path": np.array(paths, dtype=object), "pixels": pixels, "error": np.array(errors, dtype=object)}


def _connect(ray, address: str | None) -> bool:
    """Join or start Ray; True when this call started it (and must stop it)."""
    if ray.is_initialized():
        return False
    logging.getLogger("ray").setLevel(logging.ERROR)
    _check_reachable(address)
    try:
        ray.init(address=address or "local", include_dashboard=False, log_to_driver=False,
                 logging_level=logging.ERROR)
    except (ConnectionError, RuntimeError, ValueError) as exc:  # no cluster there, a bad address
        where = f"the Ray cluster at {address}" if address else "a local Ray instance"
        raise ZsclfError(f"cannot start or join {where}: {str(exc).splitlines()[0]}") from None
    return True


def _check_reachable(address: str | None) -> None:
    """A `host:port` that nothing answers is one error now (Ray itself would retry for minutes)."""
    import socket

    host, _, port = (address or "").rpartition(":")
    if not host or "://" in address or not port.isdigit():  # None, "auto", "local", "ray://…"
        return
    try:
        socket.create_connection((host, int(port)), timeout=10).close()
    except OSError as exc:
        raise ZsclfError(f"--address {address}: nothing answers there ({exc.strerror or exc}); is `ray start "
                         "--head` running on that machine?") from None


def _runtime_env(ship_models: bool) -> dict:
    """Workers import zsclf from the driver's source tree (if it exists on their node; an installed zsclf
    is left to the workers' own environment) and use the driver's models unless they are shipped."""
    env = {}
    package_parent = str(Path(__file__).resolve().parents[2])
    if not any(part in ("site-packages", "dist-packages") for part in Path(package_parent).parts):
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, os.environ.get("PYTHONPATH", "")) if p)
    if not ship_models:
        env["ZSCLF_MODELS"] = str(locations.models_dir().absolute())
    return {"env_vars": env}


def _quiet_ray_data(ray) -> None:
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    if hasattr(context, "print_on_execution_start"):
        context.print_on_execution_start = False
    logging.getLogger("ray.data").setLevel(logging.ERROR)


def build_dataset(ray, paths: list[str], request, plan: Plan):
    """The Ray Data pipeline: path blocks -> (decode tasks ->) scoring actors -> result tables."""
    import pyarrow as pa

    rows, threads = plan.rows, plan.threads
    blocks = [pa.table({"path": pa.array(paths[i:i + rows], pa.string())}) for i in range(0, len(paths), rows)]
    config = request.classifier
    split = request.splits
    device = "cuda" if request.gpus_per_worker > 0 else ("cpu" if config.device == "auto" else config.device)
    config = dataclasses.replace(config, device=device, threads=threads)
    shipped = [ray.put(ship.pack(config))] if request.ship_models else None
    options = {"batch_size": request.batch_size, **request.score_options()}
    ds = ray.data.from_arrow(blocks)
    if split:
        spec = model_spec(config.image_model, "image").entry.input
        decoders = request.classifier.threads or 1  # more for remote storage, where a read mostly waits
        ds = ds.map_batches(decode_pixels, fn_kwargs={"spec": spec, "threads": decoders}, batch_size=rows,
                            batch_format="pyarrow", num_cpus=1, runtime_env=_runtime_env(request.ship_models))
    return ds.map_batches(PixelScorer if split else Scorer, fn_constructor_args=(config, options, shipped),
                          batch_size=rows, batch_format="numpy" if split else "pyarrow",
                          compute=ray.data.ActorPoolStrategy(size=plan.workers), num_cpus=threads,
                          num_gpus=request.gpus_per_worker or None, memory=plan.memory_bytes,
                          runtime_env=_runtime_env(request.ship_models))


def run_ray(paths: list[str], request, write) -> tuple[int, list[str]]:
    """Score `paths` on Ray, handing each results table to `write`; returns (workers, notes)."""
    ray = import_ray(request.address)
    started = _connect(ray, request.address)
    try:
        _quiet_ray_data(ray)
        plan = plan_workers(ray.cluster_resources(), request, len(paths))
        ds = build_dataset(ray, paths, request, plan)
        try:
            for table in ds.iter_batches(batch_format="pyarrow", batch_size=None):
                write(table)
        except ray.exceptions.RayError as exc:
            lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
            cause = next((line for line in reversed(lines) if "Error" in line), lines[-1] if lines else "")
            cause = re.sub(r"^[\w.]+(Error|Exception): ", "", cause)  # the message, not the exception's name
            raise ZsclfError(f"the Ray job failed: {cause}") from None
        return plan.workers, plan.notes
    finally:
        if started:
            ray.shutdown()
