"""What `zsclf info` reports: versions, devices in use, model and index locations with checksums."""

from __future__ import annotations

import platform
from importlib import metadata
from pathlib import Path

from ..core import paths
from ..errors import ZsclfError
from ..models.registry import load_manifest, sha256_file
from ..version import __version__

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

    from ..core.device import SessionConfig, create_session
    from ..models.registry import model_spec

    out = {"available": ort.get_available_providers(), "in_use": None, "device": None}
    try:
        spec = model_spec(kind="image", models_dir=models)
        session, device = create_session(str(spec.path), SessionConfig("auto"))
        out.update(in_use=session.get_providers(), device=device)
    except ZsclfError as exc:
        out["error"] = str(exc)
    return out


def faiss_info() -> dict:
    """FAISS version, build (CPU/GPU) and GPUs visible."""
    import faiss

    from ..core.device import faiss_gpu_count

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
    for name, entry in manifest.models.items():
        path = models / entry.file
        kind = entry.kind if entry.kind == "text" or not entry.text_model else "image (joint pair)"
        item = {"kind": kind, "file": str(path), "present": path.is_file(), "sha256": entry.sha256,
                 "default": name == manifest.default(entry.kind)}
        if entry.quantized:
            item["quantized_from"] = entry.quantized.get("from")
        if entry.text_model or entry.image_model:
            item["pair"] = entry.text_model or entry.image_model
        if entry.classes:
            item["classes"] = f"{entry.outputs.get('logits', [None])[-1]} ({entry.classes})"
        if path.is_file():
            item["bytes"] = path.stat().st_size
            if checksums:
                item["sha256_ok"] = sha256_file(path) == entry.sha256
        out[name] = item
    return out


def index_info(index: Path, checksums: bool) -> dict:
    """The index folder's metadata and file checksums."""
    from ..core import typed_json
    from ..index.store import INDEX_FILE, current_version, load_index, read_meta

    out: dict = {"path": str(index)}
    try:
        out["version"] = current_version(index).name
        out["meta"] = typed_json.dump(read_meta(index))
        if checksums:
            load_index(index)  # sizes and CRC-32s against meta.json, finite vectors
            out["files_ok"] = True
            out["index_sha256"] = sha256_file(index / out["version"] / INDEX_FILE)
    except ZsclfError as exc:
        out["error"] = str(exc)
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
