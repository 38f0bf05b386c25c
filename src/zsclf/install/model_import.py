"""`zsclf setup --import DIR`: bring your own model (an ONNX image classifier, or a joint image-text pair) with a
small JSON card, `DIR/zsclf-model.json` = {"format": 1, "models": {NAME: manifest entry, ...}}.

Everything is checked before anything is written: the card's fields (models.registry.ModelEntry), each file's
sha256, each ONNX graph's inputs and outputs against the card (names, dtypes, sizes), a classifier's class list
against its logits, a pair's towers against each other. Then, holding a lock on the models folder (one import at
a time: one manifest to merge), the files are copied next to the models under temporary names, fsynced, and
renamed into place; the manifest is rewritten last (temp file, then rename). Temp files an import killed mid-copy
left are removed by the next one. A file or model name already installed with other content is refused, never
replaced; the same content again is a no-op.
`tools/export_models.py --timm / --openclip` and `tools/make_test_models.py` write such folders.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..core import paths, typed_json
from ..core.fsio import atomic_file, fsync_dir, os_reason, regular_file_problem
from ..core.locking import folder_lock, lock_wait
from ..errors import ZsclfError
from ..models.registry import ModelEntry, load_manifest, sha256_file

CARD = "zsclf-model.json"
COMMITTED_CLASS_COUNTS = {"imagenet1k": 1000, "imagenet21k": 21841}
DEFAULT_TEXT_INPUTS = ["input_ids", "attention_mask"]
STALE = re.compile(r"\..+\.import-[0-9a-f]{8}\.tmp")  # the temp name _place_files gives a file it copies


@dataclass(frozen=True)
class ModelCard:
    """What a folder of models to import says about them (the manifest's `models`, for these models only)."""

    format: int
    models: dict[str, ModelEntry]
    raw: dict | None = None  # the card's entries as written (the manifest keeps every key, known or not)


def _files_of(entry: ModelEntry) -> list[tuple[str, str | None]]:
    """(file name, expected sha256 or None) of every file an entry names."""
    files = [(entry.file, entry.sha256), (entry.tokenizer, entry.tokenizer_sha256),
             (entry.classifier, entry.classifier_sha256)]
    if entry.classes and entry.classes not in COMMITTED_CLASS_COUNTS:
        files.append((entry.classes, None))
    return [(name, sha) for name, sha in files if name]


def read_card(folder: Path) -> ModelCard:
    """The checked card of `folder`: every file present with the sha256 it gives, safe plain file names."""
    raw = typed_json.read_json(folder / CARD, "the model card")
    card = typed_json.load(ModelCard, raw, str(folder / CARD))
    assert isinstance(raw, dict)
    card = ModelCard(card.format, card.models, raw["models"])
    if card.format != 1 or not card.models:
        raise ZsclfError(f"{folder / CARD}: format {card.format} with {len(card.models)} models; "
                         "expected format 1 and at least one model")
    for name, entry in card.models.items():
        if not name or name != name.strip() or "/" in name or name.startswith("."):
            raise ZsclfError(f"{folder / CARD}: {name!r} is not a usable model name")
        for file, sha in _files_of(entry):
            if Path(file).name != file or file.startswith(".") or file in ("manifest.json", CARD):
                raise ZsclfError(f"{folder / CARD}: model {name}: {file!r} must be a plain file name in {folder}")
            if problem := regular_file_problem(folder / file):
                raise ZsclfError(f"{folder / file} (model {name}): {problem}")
            if sha is not None and sha256_file(folder / file) != sha:
                raise ZsclfError(f"{folder / file}: sha256 differs from the card's for model {name}: "
                                 "the file changed since the card was written")
    return card


def _signature(path: Path, name: str) -> tuple[dict, dict]:
    """({input name: (dtype, shape)}, {output name: shape}) of an ONNX graph (loaded once by ONNX Runtime)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types for a file that is not a model
        raise ZsclfError(f"{path} (model {name}): ONNX Runtime cannot load it: {str(exc).splitlines()[0][:200]}") \
            from None
    return ({i.name: (i.type, i.shape) for i in session.get_inputs()},
            {o.name: o.shape for o in session.get_outputs()})


def _fits(shape: list, want: list) -> bool:
    """A graph's shape against the card's: the same rank, and every size the card gives is the graph's or free."""
    return len(shape) == len(want) and all(w is None or not isinstance(s, int) or s == w
                                           for s, w in zip(shape, want, strict=True))


def check_graph(folder: Path, name: str, entry: ModelEntry) -> None:
    """The ONNX graph's inputs and outputs are what the card says (names, dtypes, sizes)."""
    inputs, outputs = _signature(folder / entry.file, name)
    if entry.kind == "image":
        assert entry.input is not None
        size = entry.input.size
        want_in = {entry.input.name: ("tensor(uint8)", [None, size, size, 3])}
    else:
        want_in = {i: ("tensor(int64)", [None, entry.context_length]) for i in entry.inputs or DEFAULT_TEXT_INPUTS}
    for put, (dtype, shape) in want_in.items():
        if put not in inputs or inputs[put][0] != dtype or not _fits(inputs[put][1], shape):
            have = ", ".join(f"{k} {t} {s}" for k, (t, s) in inputs.items())
            raise ZsclfError(f"{folder / entry.file} (model {name}): the card wants input {put} {dtype} {shape}; "
                             f"the graph has {have}")
    for out, shape in entry.outputs.items():
        if out not in outputs or not _fits(outputs[out], shape):
            have = ", ".join(f"{k} {s}" for k, s in outputs.items())
            raise ZsclfError(f"{folder / entry.file} (model {name}): the card gives output {out} {shape}; "
                             f"the graph has {have}")


def check_entry(folder: Path, name: str, entry: ModelEntry, known: dict[str, ModelEntry]) -> None:
    """What a model needs beyond its graph: an image model's input block and kind of outputs, a classifier's
    class list, a pair's towers (in the card or installed) that fit each other."""
    where = f"{folder / CARD}: model {name}"
    if entry.kind == "image" and entry.input is None:
        raise ZsclfError(f"{where}: an image model needs an 'input' block (size, crop_fraction, ...)")
    if entry.kind == "text" and not entry.tokenizer:
        raise ZsclfError(f"{where}: a text model needs its 'tokenizer' (a tokenizers JSON file)")
    if "embedding" not in entry.outputs and not {"features", "logits"} <= entry.outputs.keys():
        raise ZsclfError(f"{where}: outputs must be 'embedding', or 'features' and 'logits' (an image classifier)")
    if entry.kind == "image" and "logits" in entry.outputs:
        _check_classes(folder, where, entry)
    if entry.kind == "image" and "embedding" in entry.outputs:
        text = known.get(entry.text_model or "")
        if text is None or text.kind != "text":
            raise ZsclfError(f"{where}: an image tower needs 'text_model', the name of its text tower in the card "
                             "or already installed")
        if text.outputs.get("embedding", [None])[-1] != entry.outputs["embedding"][-1]:
            raise ZsclfError(f"{where}: its embedding has {entry.outputs['embedding'][-1]} dimensions, "
                             f"its text tower {entry.text_model}'s {text.outputs.get('embedding', [None])[-1]}")


def _check_classes(folder: Path, where: str, entry: ModelEntry) -> None:
    from ..data.labels import read_labels

    classes, count = entry.classes, entry.outputs["logits"][-1]
    if not classes:
        raise ZsclfError(f"{where}: an image classifier needs 'classes' (imagenet1k, imagenet21k or a label file "
                         "with one class per logit, in order)")
    have = COMMITTED_CLASS_COUNTS.get(classes) or len(read_labels(folder / classes))
    if have != count:
        raise ZsclfError(f"{where}: its class list {classes} holds {have} classes, its logits {count}")


def import_models(folder: Path, models_dir: Path | None = None,
                  note: Callable[[str], None] | None = None) -> list[str]:
    """Check and install the models of `folder`'s card (see the module doc); returns their names."""
    models_dir = models_dir or paths.models_dir()
    card = read_card(folder)
    known = {**load_manifest(models_dir).models, **card.models}  # the base install must be there (a text model)
    for name, entry in card.models.items():
        check_entry(folder, name, entry, known)
        check_graph(folder, name, entry)
    busy = f"{models_dir}: another zsclf is importing models; nothing was imported (try again when it is done)"
    with folder_lock(models_dir, lock_wait(), busy, create=False):  # one importer at a time: one manifest to merge
        _remove_stale(models_dir)
        manifest = load_manifest(models_dir)
        for name, entry in card.models.items():
            if name in manifest.models and manifest.models[name].sha256 != entry.sha256:
                raise ZsclfError(f"model {name} is already installed with other weights (sha256 "
                                 f"{manifest.models[name].sha256[:12]}): rename the model in {folder / CARD}")
        _install(folder, models_dir, card, note)
    return list(card.models)


def _install(folder: Path, models_dir: Path, card: ModelCard, note: Callable[[str], None] | None) -> None:
    """Place the card's files, then record the models in the manifest; a failure takes the placed files back."""
    files = list(dict.fromkeys(file for entry in card.models.values() for file, _ in _files_of(entry)))
    placed = _place_files(folder, models_dir, files, note)
    try:
        _merge_manifest(models_dir, card)
    except BaseException as exc:
        for path in placed:
            path.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise ZsclfError(f"{models_dir / 'manifest.json'}: cannot record the models: {os_reason(exc)}; "
                             "nothing was imported") from None
        raise


def _remove_stale(models_dir: Path) -> None:
    """Delete temp files an import killed mid-copy left (our names only: `.FILE.import-<8 hex>.tmp`; run under
    the lock, so no live import owns one)."""
    for path in models_dir.glob(".*.import-*.tmp"):
        if STALE.fullmatch(path.name) and path.is_file() and not path.is_symlink():
            try:
                path.unlink(missing_ok=True)
            except OSError:  # a read-only folder: the copy below says so, in one line
                pass


def _place_files(folder: Path, models_dir: Path, files: list[str],
                 note: Callable[[str], None] | None) -> list[Path]:
    """Copy each file to a temp name beside the models, then rename them all into place (all or none); returns
    the files placed (none of them was there before)."""
    todo = {}
    for file in files:
        target = models_dir / file
        if target.exists() or target.is_symlink():
            if regular_file_problem(target) is None and sha256_file(target) == sha256_file(folder / file):
                continue  # the same file, imported before
            raise ZsclfError(f"{target} exists with other content: rename the file in {folder / CARD} "
                             "(nothing was imported)")
        todo[file] = models_dir / f".{file}.import-{secrets.token_hex(4)}.tmp"
    placed: list[Path] = []
    try:
        for file, tmp in todo.items():
            with open(folder / file, "rb") as src, open(tmp, "xb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
                dst.flush()
                os.fsync(dst.fileno())
            if note:
                note(f"copied {file} ({tmp.stat().st_size / 1e6:.1f} MB)")
        for file, tmp in todo.items():
            os.rename(tmp, models_dir / file)
            placed.append(models_dir / file)
        fsync_dir(models_dir)
    except OSError as exc:
        for path in [*todo.values(), *placed]:  # ours: temp names, and targets that did not exist before
            path.unlink(missing_ok=True)
        raise ZsclfError(f"{models_dir}: cannot import the models: {os_reason(exc)}; nothing was imported") from None
    return placed


def _merge_manifest(models_dir: Path, card: ModelCard) -> None:
    """Add the card's entries to models/manifest.json (as written, other keys kept), atomically."""
    path = models_dir / "manifest.json"
    raw = json.loads(path.read_text(encoding="utf-8"))
    raw["models"].update(card.raw or {name: typed_json.dump(entry) for name, entry in card.models.items()})
    raw["models"] = dict(sorted(raw["models"].items()))
    with atomic_file(path) as fh:
        fh.write((json.dumps(raw, indent=2) + "\n").encode())


def next_steps(names: list[str]) -> list[str]:
    """What to tell the user after an import: each model, and how to use it."""
    manifest = load_manifest()
    lines = []
    for name in names:
        entry = manifest.models[name]
        if entry.kind == "text":
            lines.append(f"imported {name} (text tower of {entry.image_model or 'a joint pair'})")
        elif entry.text_model:
            lines.append(f"imported {name} (image tower of a joint pair with {entry.text_model}): make an index with "
                         f"`zsclf build-index LABELS --model {name}`, or `zsclf predict --model {name} --labels ...`")
        else:
            lines.append(f"imported {name} (image classifier, {entry.outputs['logits'][-1]} classes: {entry.classes}): "
                         f"`zsclf predict --model {name} PHOTOS`")
    return lines
