"""What `zsclf info` reports: versions, devices in use, model and index locations with checksums."""

from __future__ import annotations

import platform
from importlib import metadata
from pathlib import Path

from . import __version__, paths
from .errors import ZsclfError
from .manifest import load_manifest, sha256_file

PACKAGES = ("numpy", "pillow", "onnxruntime", "onnxruntime-gpu", "faiss-cpu", "faiss-gpu", "tokenizers",
            "typer", "rich")


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def onnxruntime_info(models: Path) -> dict:
    """Providers ONNX Runtime offers, and the ones a real session on the image model uses."""
    import onnxruntime as ort

    from .device import SessionConfig, create_session

    out = {"available": ort.get_available_providers(), "in_use": None, "device": None}
    try:
        manifest = load_manifest(models)
        entry = manifest["models"][manifest["default_image_model"]]
        session, device = create_session(str(models / entry["file"]), SessionConfig("auto"))
        out.update(in_use=session.get_providers(), device=device)
    except (ZsclfError, KeyError, OSError) as exc:
        out["error"] = str(exc)
    return out


def faiss_info() -> dict:
    """FAISS version, build (CPU/GPU) and GPUs visible."""
    import faiss

    from .device import faiss_gpu_count

    gpus = faiss_gpu_count()
    return {"version": faiss.__version__, "gpu_build": hasattr(faiss, "StandardGpuResources"), "gpus": gpus,
            "search_device": "cuda" if gpus else "cpu"}


def models_info(models: Path, checksums: bool) -> dict:
    """Each manifest model with its file, presence and (optionally) whether its sha256 matches."""
    try:
        manifest = load_manifest(models)
    except ZsclfError as exc:
        return {"error": str(exc)}
    out = {}
    for name, entry in manifest["models"].items():
        path = models / entry["file"]
        item = {"kind": entry["kind"], "file": str(path), "present": path.is_file(), "sha256": entry["sha256"]}
        if path.is_file():
            item["bytes"] = path.stat().st_size
            if checksums:
                item["sha256_ok"] = sha256_file(path) == entry["sha256"]
        out[name] = item
    return out


def index_info(index: Path, checksums: bool) -> dict:
    """The index folder's metadata and file checksums."""
    from .index import INDEX_FILE, read_meta

    out: dict = {"path": str(index)}
    try:
        out["meta"] = read_meta(index)
    except ZsclfError as exc:
        out["error"] = str(exc)
        return out
    if checksums and (index / INDEX_FILE).is_file():
        out["index_sha256"] = sha256_file(index / INDEX_FILE)
    return out


def collect_info(index: Path | None = None, checksums: bool = True) -> dict:
    """Everything `zsclf info` prints, as a dict."""
    models = paths.models_dir()
    return {
        "zsclf": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": {p: v for p in PACKAGES if (v := _version(p))},
        "onnxruntime": onnxruntime_info(models),
        "faiss": faiss_info(),
        "locations": {"home": str(paths.home()), "models": str(models), "labels": str(paths.labels_dir()),
                      "default_index": str(paths.default_index_dir())},
        "models": models_info(models, checksums),
        "index": index_info(index or paths.default_index_dir(), checksums),
    }


def print_info(data: dict) -> None:
    """Human-readable rendering of `collect_info`."""
    from rich.console import Console

    console = Console(soft_wrap=True, highlight=False)
    console.print(f"[bold]zsclf {data['zsclf']}[/bold]  (Python {data['python']}, {data['platform']})")
    console.print("packages: " + ", ".join(f"{k} {v}" for k, v in data["packages"].items()))
    ort_info = data["onnxruntime"]
    console.print(f"onnxruntime providers available: {', '.join(ort_info['available'])}")
    problem = f"  ({ort_info['error']})" if "error" in ort_info else ""
    console.print(f"onnxruntime providers in use:    {', '.join(ort_info['in_use'] or ['-'])} "
                  f"-> encoder runs on {ort_info['device'] or '?'}{problem}")
    fi = data["faiss"]
    console.print(f"faiss {fi['version']}: {'GPU' if fi['gpu_build'] else 'CPU'} build, {fi['gpus']} GPU(s), "
                  f"search runs on {fi['search_device']}")
    for key, value in data["locations"].items():
        console.print(f"{key + ':':<15} {value}")
    models = data["models"]
    if "error" in models:
        console.print(f"[red]models: {models['error']}[/red]")
    for name, m in models.items() if "error" not in models else []:
        state = "missing" if not m["present"] else {True: "sha256 ok", False: "[red]sha256 MISMATCH[/red]",
                                                     None: "present"}[m.get("sha256_ok")]
        size = f"{m['bytes'] / 1e6:.1f} MB" if m.get("bytes") else ""
        console.print(f"model {name} ({m['kind']}): {m['file']} {size} {state} [dim]{m['sha256'][:16]}[/dim]")
    idx = data["index"]
    if "error" in idx:
        console.print(f"[yellow]index: {idx['error']}[/yellow]")
    else:
        meta = idx["meta"]
        console.print(f"index {idx['path']}: {meta['count']} labels, {meta['dim']}-d {meta['kind']} "
                      f"{meta['space']} space, template {meta.get('template')!r}, text encoder "
                      f"{meta['text_encoder']['name']}, built {meta.get('created')}"
                      + (f" [dim]sha256 {idx['index_sha256'][:16]}[/dim]" if "index_sha256" in idx else ""))


def print_eval(report: dict) -> None:
    """Human-readable rendering of an `evaluate` report."""
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    console.print(f"[bold]{report['data']}[/bold]: {report['evaluated']} of {report['images']} images evaluated "
                  f"against {report['labels_in_index']} labels ({report['projection']}"
                  f"{', excluding seen classes' if report['exclude_seen'] else ''})")
    table = Table("metric", *report["hit"].keys())
    table.add_row("hit", *(f"{v:.3f}" for v in report["hit"].values()))
    if "hp" in report:
        table.add_row("hierarchical precision", *(f"{v:.3f}" for v in report["hp"].values()))
    console.print(table)
    console.print(f"mean per-class accuracy: {report['mean_per_class_accuracy']:.3f}")
    if "cnn_softmax" in report:
        ref = report["cnn_softmax"]
        console.print(f"CNN's own softmax over its 1,000 classes ({ref['images']} images): "
                      f"top-1 {ref['hit']['@1']:.3f}, top-5 {ref['hit']['@5']:.3f}")
    if report["unmatched"]:
        shown = ", ".join(f"{k} ({v})" for k, v in list(report["unmatched"].items())[:8])
        console.print(f"[yellow]ground truth not in the index (not scored): {shown}[/yellow]")
    if report["failed"]:
        console.print(f"[red]{report['failed']} images failed: {'; '.join(report['errors'][:3])}[/red]")
    if report["confusions"]:
        console.print("most confused: " + "; ".join(f"{c['true']} -> {c['predicted']} ({c['count']})"
                                                    for c in report["confusions"][:5]))


def print_benchmark(result: dict) -> None:
    """Human-readable rendering of a `zsclf benchmark` result."""
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    m = result["machine"]
    console.print(f"[bold]{m['cpu']}[/bold], {m['cores']} cores, Python {m['python']}; {result['source']} images")
    columns = [f"{r['device']['encoder']} encoder / {r['device']['search']} search" for r in result["runs"]]
    table = Table("stage", *columns)
    for stage in result["runs"][0]["images_per_s"]:
        table.add_row(f"{stage} (images/s)", *(f"{r['images_per_s'][stage]:,.1f}" for r in result["runs"]))
    for ratio in result["runs"][0]["ratios"]:
        table.add_row(ratio, *(f"{r['ratios'][ratio]:.2f}" for r in result["runs"]))
    table.add_row("batch-1 latency (ms, median)", *(f"{r['batch1_latency_ms']['median']:.1f}" for r in result["runs"]))
    table.add_row("index load (s)", *(f"{r['index_load_s']:.3f}" for r in result["runs"]))
    table.add_row("peak RSS (MB)", *(f"{r['peak_rss_mb']:.0f}" for r in result["runs"]))
    table.add_row("cold start, 1-image predict (s, median)",
                  *(f"{r['cold_start']['median_s']:.3f}" if "cold_start" in r else "-" for r in result["runs"]))
    console.print(table)
    r = result["runs"][0]
    console.print(f"{r['images']} images, batch {r['batch_size']}, {r['threads']} threads, {r['labels']} labels")
