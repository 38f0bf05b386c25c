"""--engine local: the unit of work (`Classifier.score_paths`) in this process, part after part.

Within a call the pipeline's own concurrency applies (decoder threads, one single-threaded ONNX Runtime
run per core); calls are `rows_per_call` inputs long so that a part is written as soon as it is scored.
"""

from __future__ import annotations

from collections.abc import Callable

from ..pipeline.classifier import Classifier


def run_local(clf: Classifier, paths: list[str], request, write: Callable) -> None:
    """Score `paths` with `clf`, handing each results table to `write`."""
    step = request.rows_per_call
    for start in range(0, len(paths), step):
        write(clf.score_paths(paths[start:start + step], batch_size=request.batch_size, **request.score_options()))
