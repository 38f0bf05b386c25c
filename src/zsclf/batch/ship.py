"""Sending a classifier's files to Ray workers that have no shared ZSCLF_HOME (`--ship-models`).

The driver packs what the workers' `Classifier` reads: the model manifest, the image model (and its
classifier weights), the text model and tokenizer (ConSE's seen classes; their cached embeddings go
too), the index folder and a DeViSE projection file. It goes once into Ray's object store (~150 MB
with the default index); each node unpacks it once into a folder named by its digest under the
temp folder, and its workers load from there.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from ..core import paths as locations
from ..core.fsio import fsync_dir
from ..index.layout import FILES as INDEX_FILES
from ..index.store import current_version, read_meta
from ..models.registry import load_manifest
from ..pipeline.classifier import ClassifierConfig

Bundle = dict[str, bytes]


def model_files(config: ClassifierConfig) -> list[Path]:
    """The files under the models folder that the classifier of `config` may read (a class list named by a
    committed label set, e.g. imagenet21k, is no file there and ships with the package)."""
    models = locations.models_dir()
    manifest = load_manifest(models)
    # the text model that made the index's vectors (its seen-class vectors, when the cache lacks them), not the
    # default: an index built with the float text model on an install whose default is the int8 one
    text = read_meta(config.index).text_encoder.name if config.index else manifest.default_text_model
    wanted = [manifest.models[config.image_model or manifest.default_image_model]]
    wanted += [manifest.models[text]] if text in manifest.models else []  # not installed: the workers say so
    names = ["manifest.json"] + [n for e in wanted for n in (e.file, e.classifier, e.tokenizer, e.classes) if n]
    files = [models / n for n in names if (models / n).is_file()]
    return files + sorted((models / "cache").glob("seen-*.npy"))


def pack(config: ClassifierConfig) -> Bundle:
    """Relative path -> bytes of every file the workers need (config's index and projection absolute)."""
    assert config.index is not None
    models = locations.models_dir()
    bundle = {f"models/{p.relative_to(models)}": p.read_bytes() for p in model_files(config)}
    version = current_version(config.index)  # the version in use, as index.store lays it out
    bundle["index/CURRENT"] = f"{version.name}\n".encode()
    bundle.update({f"index/{version.name}/{name}": (version / name).read_bytes() for name in INDEX_FILES})
    if config.projection:
        bundle[f"projection/{Path(config.projection).name}"] = Path(config.projection).read_bytes()
    return bundle


def digest(bundle: Bundle) -> str:
    h = hashlib.sha256()
    for name in sorted(bundle):
        h.update(name.encode() + b"\0" + hashlib.sha256(bundle[name]).digest())
    return h.hexdigest()[:20]


def unpack(bundle: Bundle, root: Path | None = None) -> Path:
    """The bundle as a folder on this node (written once: temp folder, then rename)."""
    root = root or Path(tempfile.gettempdir()) / "zsclf-shipped"
    target = root / digest(bundle)
    if target.is_dir():
        return target
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=root))
    try:
        for name, data in bundle.items():
            (tmp / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp / name).write_bytes(data)
        os.rename(tmp, target)
        fsync_dir(root)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if not target.is_dir():  # another worker on this node did not win the race either
            raise
    return target


def use_unpacked(folder: Path, config: ClassifierConfig) -> ClassifierConfig:
    """Point this process (ZSCLF_MODELS) and `config` (index, projection) at an unpacked bundle."""
    os.environ["ZSCLF_MODELS"] = str(folder / "models")
    projection = folder / "projection" / Path(config.projection).name if config.projection else None
    return dataclasses.replace(config, index=folder / "index", projection=projection)
