"""`--labels`: a user's own labels as an index without an index folder, embedded once and cached by content.

`predict/eval/batch --labels "cat, dog, red car"` (or a label file) become an ordinary index folder under
`cache_dir()/labels/<key>`, where the key is the sha256 of everything its vectors depend on: the labels
(names, ids, synonyms, descriptions, parents), the template, the text model's sha256, the label-prior
correction asked for, the image model whose photo prior it is corrected against, and zsclf's version. A
repeat call loads that index and encodes no text. Entries are written by `index.store.save_index` (locked,
atomic: any number of processes may build or read the same entry at once); an entry that fails its checks is
built again; the least recently used entries beyond MAX_ENTRIES or MAX_BYTES are removed (only folders in
this cache that are provably zsclf indexes).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..core import paths
from ..core.device import SessionConfig
from ..core.progress import Progress
from ..data.labels import DEFAULT_TEMPLATE, LabelSet, check_template, read_labels_option
from ..errors import ZsclfError
from ..index.label_index import LabelIndex
from ..index.layout import survey
from ..index.store import load_index, save_index
from ..models.registry import model_spec, text_model_for
from ..version import __version__
from .label_correction import check_label_prior, correction_settings

MAX_ENTRIES = 64  # label sets kept; a 100-label entry is ~0.2 MB, the whole 21K set ~35 MB
MAX_BYTES = 512 << 20
RECENT_S = 60.0  # an entry used this recently is never removed (another process may be loading it)


@dataclass
class OwnLabels:
    """The index made for `--labels`: where it is, whether it was already cached, what to tell the user."""

    folder: Path
    labels: int
    cached: bool
    index: LabelIndex  # loaded and checked: callers use it rather than load the folder again
    notes: list[str] = field(default_factory=list)


def cache_root() -> Path:
    """Where `--labels` indexes are kept (`ZSCLF_HOME/models/cache/labels`, beside the other derived caches)."""
    return paths.cache_dir() / "labels"


def labels_index(value: str, template: str | None = None, label_prior: str = "auto", image_model: str | None = None,
                 progress: Progress | None = None) -> OwnLabels:
    """The cached index for `--labels VALUE` (a label file, or labels separated by commas), built when missing
    or damaged. `label_prior`: auto (the correction where it helps), off or a method (learn.label_correction)."""
    check_label_prior(label_prior)
    template = template or DEFAULT_TEMPLATE
    check_template(template)
    labels = read_labels_option(value)
    notes = []
    if labels.dropped_blank or labels.dropped_duplicates:
        notes.append(f"--labels: dropped {labels.dropped_blank} blank and {labels.dropped_duplicates} repeated labels")
    folder = cache_root() / cache_key(labels, template, label_prior, image_model)
    if (folder / "CURRENT").exists():
        try:
            index = load_index(folder)  # every file checked: a damaged entry is built again below
            _touch(folder)
            return OwnLabels(folder, len(labels), True, index, notes)
        except ZsclfError as exc:
            notes.append(f"--labels: the cached index was unusable ({exc}); building it again")
    _build(labels, folder, template, label_prior, image_model, progress)
    _prune(keep=folder)
    return OwnLabels(folder, len(labels), False, load_index(folder), notes)


def cache_key(labels: LabelSet, template: str, label_prior: str, image_model: str | None) -> str:
    """sha256 (32 hex digits) of everything the cached vectors depend on."""
    image = model_spec(image_model, "image")
    text = model_spec(text_model_for(image), "text")
    weights = (image.entry.source or {}).get("weights_sha256") or image.sha256
    content = {
        "labels": [labels.names, labels.ids, labels.synonyms, labels.descriptions, labels.parents],
        "template": template, "text_model": [text.name, text.sha256], "label_prior": label_prior,
        "image_model": [image.name, weights], "zsclf": __version__, "correction": correction_settings(),
    }
    return hashlib.sha256(json.dumps(content, ensure_ascii=False).encode()).hexdigest()[:32]


def _build(labels: LabelSet, folder: Path, template: str, label_prior: str, image_model: str | None,
           progress: Progress | None) -> None:
    from ..models.text_encoder import TextEncoder
    from .builder import build_index

    text = TextEncoder.load(text_model_for(model_spec(image_model, "image")), SessionConfig(device="cpu"))
    index = build_index(labels, text, template, progress=progress, source="--labels", label_prior=label_prior,
                        image_model=image_model)
    save_index(index, folder)


def _touch(folder: Path) -> None:
    """Mark an entry as just used (its folder's mtime); a read-only cache is used as it is."""
    try:
        os.utime(folder)
    except OSError:
        pass


def _prune(keep: Path) -> None:
    """Remove the least recently used entries beyond MAX_ENTRIES / MAX_BYTES; never `keep`, never an entry used in
    the last RECENT_S seconds, never anything that is not provably a zsclf index."""
    try:
        entries = [e for e in os.scandir(cache_root()) if e.is_dir(follow_symlinks=False)]
    except OSError:
        return
    dated = sorted(((e.stat(follow_symlinks=False).st_mtime, Path(e.path)) for e in entries), reverse=True)
    total, now = 0, time.time()
    for rank, (mtime, entry) in enumerate(dated):
        total += _size(entry)
        over = rank >= MAX_ENTRIES or total > MAX_BYTES
        if over and entry != keep and now - mtime > RECENT_S and survey(entry).ours:
            shutil.rmtree(entry, ignore_errors=True)


def _size(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file() and not f.is_symlink())
