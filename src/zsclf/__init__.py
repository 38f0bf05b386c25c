"""zsclf: zero-shot image classification over tens of thousands of labels.

Library API (the CLI is a thin wrapper)::

    from zsclf import Classifier
    clf = Classifier.load()                  # default 21K index, ConSE projection
    for result in clf.predict_paths(["cat.jpg"], top_k=5):
        print(result.path, result.predictions)

    from zsclf import labels_index
    clf = Classifier.load(labels_index("cat, dog, red car").folder)   # your own labels, embedded once and cached

    from zsclf import Collection
    photos = Collection.open("photos.db")    # a photo collection (SQLite), searched by text or example
    photos.add(["~/Pictures"])
    photos.search(text="a dog on a beach", k=5)

Names are imported lazily so that `zsclf --help` and one-image predictions start fast; type
checkers see them through the TYPE_CHECKING imports below.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from .version import __version__

if TYPE_CHECKING:
    from .collection.collection import Collection, Hit
    from .data.dataset import Sample, read_dataset
    from .data.labels import LabelSet, read_hypernyms, read_labels
    from .errors import ImageError, ZsclfError
    from .index.label_index import LabelIndex, SearchResult
    from .index.meta import IndexMeta
    from .index.store import load_index, save_index
    from .learn.builder import BuildRequest, build_index, make_index
    from .learn.examples import ExampleSet, read_examples
    from .learn.features import encode_images
    from .learn.label_cache import labels_index
    from .learn.train import TrainConfig, run_training, train_devise
    from .measure.bench import benchmark_images
    from .measure.evaluate import evaluate
    from .measure.sysinfo import collect_info
    from .models.image_encoder import ImageEncoder
    from .models.text_encoder import TextEncoder
    from .pipeline.classifier import Classifier, ClassifierConfig, Prediction, Result
    from .pipeline.projection import ConSE, LinearProjection, VisualProjection
    from .pipeline.projection_file import ProjectionMeta, load_projection, save_projection

_EXPORTS = {
    "Classifier": "pipeline.classifier", "ClassifierConfig": "pipeline.classifier",
    "Prediction": "pipeline.classifier", "Result": "pipeline.classifier",
    "ImageEncoder": "models.image_encoder", "TextEncoder": "models.text_encoder",
    "LabelIndex": "index.label_index", "SearchResult": "index.label_index", "IndexMeta": "index.meta",
    "load_index": "index.store", "save_index": "index.store",
    "LabelSet": "data.labels", "read_labels": "data.labels", "read_hypernyms": "data.labels",
    "Sample": "data.dataset", "read_dataset": "data.dataset",
    "ConSE": "pipeline.projection", "LinearProjection": "pipeline.projection",
    "VisualProjection": "pipeline.projection",
    "ProjectionMeta": "pipeline.projection_file", "load_projection": "pipeline.projection_file",
    "save_projection": "pipeline.projection_file",
    "BuildRequest": "learn.builder", "build_index": "learn.builder", "make_index": "learn.builder",
    "ExampleSet": "learn.examples", "read_examples": "learn.examples", "encode_images": "learn.features",
    "labels_index": "learn.label_cache",
    "TrainConfig": "learn.train", "train_devise": "learn.train", "run_training": "learn.train",
    "evaluate": "measure.evaluate", "benchmark_images": "measure.bench", "collect_info": "measure.sysinfo",
    "ZsclfError": "errors", "ImageError": "errors",
    "Collection": "collection.collection", "Hit": "collection.collection",
}

__all__ = [
    "__version__",
    "Classifier", "ClassifierConfig", "Prediction", "Result", "ImageEncoder", "TextEncoder", "LabelIndex",
    "SearchResult", "IndexMeta", "load_index", "save_index", "LabelSet", "read_labels", "read_hypernyms", "Sample",
    "read_dataset", "ConSE", "LinearProjection", "VisualProjection", "ProjectionMeta", "load_projection",
    "save_projection", "BuildRequest", "build_index", "make_index", "ExampleSet", "read_examples", "encode_images",
    "labels_index", "TrainConfig", "train_devise", "run_training", "evaluate", "benchmark_images", "collect_info",
    "ZsclfError", "ImageError", "Collection", "Hit",
]


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'zsclf' has no attribute {name!r}")
