"""Where zsclf finds its models, label files and indexes.

Lookup order for each location: its own environment variable, then `ZSCLF_HOME/<name>`,
where `ZSCLF_HOME` defaults to the source checkout the package runs from (the folder holding
`models/manifest.json`), else `$XDG_DATA_HOME/zsclf` (`~/.local/share/zsclf`).

| location        | variable       | default                              |
|-----------------|----------------|--------------------------------------|
| models          | ZSCLF_MODELS   | $ZSCLF_HOME/models                   |
| label files     | ZSCLF_LABELS   | $ZSCLF_HOME/labels, else the package's own copy (zsclf/resources/labels) |
| default index   | ZSCLF_INDEX    | $ZSCLF_HOME/indexes/imagenet21k      |

A photo collection is the user's data, not the install's: it lives under the data home
(`ZSCLF_COLLECTION`, else `$XDG_DATA_HOME/zsclf/photos.db`, i.e. `~/.local/share/zsclf/photos.db`).
"""

from __future__ import annotations

import os
from pathlib import Path


def _checkout_root() -> Path | None:
    """The repository root when running from a source checkout (src/ layout), else None."""
    root = Path(__file__).resolve().parents[3]  # src/zsclf/core/paths.py -> checkout
    return root if (root / "models" / "manifest.json").is_file() else None


def home() -> Path:
    """The folder holding models/, labels/ and indexes/."""
    if env := os.environ.get("ZSCLF_HOME"):
        return Path(env).expanduser()
    if root := _checkout_root():
        return root
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data) / "zsclf"


def _located(variable: str, default: Path) -> Path:
    env = os.environ.get(variable)
    return Path(env).expanduser() if env else default


def models_dir() -> Path:
    """Folder with manifest.json and the exported .onnx files."""
    return _located("ZSCLF_MODELS", home() / "models")


PACKAGED_LABELS = Path(__file__).resolve().parents[1] / "resources" / "labels"  # in a checkout: a link to labels/


def labels_dir() -> Path:
    """Folder with the committed label files (imagenet1k.tsv, imagenet21k.tsv, ...): ZSCLF_LABELS, else
    ZSCLF_HOME/labels when it exists (a checkout), else the copy installed with the package."""
    in_home = home() / "labels"
    return _located("ZSCLF_LABELS", in_home if in_home.is_dir() or not PACKAGED_LABELS.is_dir() else PACKAGED_LABELS)


def default_index_dir(joint_model: str | None = None) -> Path:
    """The index `predict` uses when `--index` is not given; for the image tower of a joint pair, whose queries
    only its own text tower's vectors can answer, `indexes/imagenet21k-<model>` (made by build-index)."""
    if joint_model:
        return home() / "indexes" / f"imagenet21k-{joint_model}"
    return _located("ZSCLF_INDEX", home() / "indexes" / "imagenet21k")


def cache_dir() -> Path:
    """Derived, rebuildable artefacts (e.g. ConSE seen-class embeddings)."""
    return models_dir() / "cache"


def data_home() -> Path:
    """The user's zsclf data folder: `$XDG_DATA_HOME/zsclf` (default `~/.local/share/zsclf`)."""
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data).expanduser() / "zsclf"


def collection_path() -> Path:
    """The photo collection `zsclf photos` and `zsclf search` use when `--db` is not given."""
    return _located("ZSCLF_COLLECTION", data_home() / "photos.db")
