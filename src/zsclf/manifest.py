"""The model registry: `models/manifest.json`, written by tools/export_models.py."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from . import paths
from .errors import ZsclfError

SETUP_HINT = "run `make setup` (or `python tools/export_models.py`) to export the models"


@dataclass(frozen=True)
class ModelSpec:
    """One exported model as the manifest describes it."""

    name: str
    path: Path
    entry: dict

    @property
    def kind(self) -> str:
        return self.entry["kind"]

    @property
    def sha256(self) -> str:
        return self.entry["sha256"]

    def input_size(self) -> int:
        return int(self.entry["input"]["size"])


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_manifest(models_dir: Path | None = None) -> dict:
    """The parsed manifest, or a ZsclfError saying how to create it."""
    path = (models_dir or paths.models_dir()) / "manifest.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ZsclfError(f"no model manifest at {path}: {SETUP_HINT}") from None
    except json.JSONDecodeError as exc:
        raise ZsclfError(f"model manifest {path} is not valid JSON ({exc}): {SETUP_HINT}") from None


def model_spec(name: str | None = None, kind: str = "image", models_dir: Path | None = None) -> ModelSpec:
    """Look up a model by name (default: the manifest's default of that kind); its file must exist."""
    models_dir = models_dir or paths.models_dir()
    manifest = load_manifest(models_dir)
    name = name or manifest[f"default_{kind}_model"]
    entry = manifest["models"].get(name)
    if entry is None or entry["kind"] != kind:
        known = ", ".join(n for n, e in manifest["models"].items() if e["kind"] == kind)
        raise ZsclfError(f"unknown {kind} model {name!r} (known: {known})")
    path = models_dir / entry["file"]
    if not path.is_file():
        raise ZsclfError(f"model file {path} is missing: {SETUP_HINT}")
    return ModelSpec(name=name, path=path, entry=entry)
