"""zsclf: zero-shot image classification over tens of thousands of labels.

Library API (the CLI is a thin wrapper)::

    from zsclf import Classifier
    clf = Classifier.load()                  # default 21K index, ConSE projection
    for result in clf.predict_paths(["cat.jpg"], top_k=5):
        print(result.path, result.predictions)

Names are imported lazily so that `zsclf --help` and one-image predictions start fast.
"""

from __future__ import annotations

from importlib import import_module

__version__ = "0.1.0"

_EXPORTS = {
    "Classifier": "pipeline",
    "Prediction": "pipeline",
    "Result": "pipeline",
    "ImageEncoder": "encoder",
    "TextEncoder": "text",
    "LabelIndex": "index",
    "LabelSet": "labels",
    "read_labels": "labels",
    "ConSE": "projection",
    "build_text_index": "build",
    "ZsclfError": "errors",
    "ImageError": "errors",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'zsclf' has no attribute {name!r}")
