"""The one batch-encode loop: paths -> decoded batches (threads) -> encoder (-> projection), in input order.

Concurrency on the CPU: one single-threaded ONNX Runtime run per core, on different batches at
once, while decoder threads prepare the next batches. Measured here on 2 cores (320 ImageNet
JPEGs), this beat one two-threaded run per batch: 154 vs 141 images/s end to end, because an
intra-op thread pre-empted by a decoder no longer stalls the whole operator. Prediction, feature
caching, evaluation and the benchmark all use this loop; results come in input order.

Memory is bounded whatever the flags and the number of inputs: threads are at most the cores
(`core.device.clamp_threads`); each batch is decoded a few images ahead of its encoder, which runs
on sub-batches of `ImageEncoder.max_batch` images, so neither decoded pixels (150 KB an image) nor
activations (~10 MB an image) grow with the batch size; only the outputs of the threads + 1
batches in flight do. Peak RSS on the CPU (2 cores, ImageNet-21K index, 13 runs, within ±21 MB):
    RSS ≈ 200 MB + threads × 36 MB + (threads + 1) × batch_size × 37 KB
e.g. 275 MB at the defaults (batch 32, 2 threads), 385 MB for --batch-size 1000 (was 900 MB and
an out-of-memory kill at 24 GB before these bounds).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass
from itertools import islice
from threading import Semaphore

import numpy as np

from ..core.device import clamp_threads
from ..errors import ImageError, ZsclfError
from ..models.image_encoder import ImageEncoder
from .images import decode_batches

Project = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass
class EncodedBatch:
    """One processed batch: per input an error (None = decoded), and for the decoded inputs, in order,
    the CNN's features and logits and (when a projection was given) the query vectors."""

    paths: list[str]
    errors: list[ImageError | None]
    features: np.ndarray | None
    logits: np.ndarray | None
    queries: np.ndarray | None = None

    @property
    def ok(self) -> list[int]:
        """Positions (in `paths`) of the inputs that have rows in features/logits/queries."""
        return [i for i, error in enumerate(self.errors) if error is None]


def _encode(encoder: ImageEncoder, project: Project | None, paths: list[str], decode_pool: Executor,
            runs: Semaphore) -> EncodedBatch:
    """Decode one batch in `decode_pool` a few images ahead of the encoder, and encode (and project) it
    sub-batch by sub-batch, at most `runs` encoder runs at once: only a few sub-batches of pixels are
    alive at a time, however big the batch."""
    step = encoder.max_batch or len(paths)
    errors: list[ImageError | None] = []
    parts: list[tuple[np.ndarray, np.ndarray]] = []
    for chunk in decode_batches(paths, encoder.preprocess, step, decode_pool, ahead=2):
        good = [arr for _, arr in chunk if isinstance(arr, np.ndarray)]
        if good:
            with runs:
                parts.append(encoder.encode(np.stack(good)))
        errors += [arr if isinstance(arr, ImageError) else None for _, arr in chunk]
    features = logits = queries = None
    if parts:
        features = np.concatenate([f for f, _ in parts])
        logits = np.concatenate([lg for _, lg in parts])
        queries = project(features, logits) if project else None
    return EncodedBatch(paths, errors, features, logits, queries)


def encode_stream(encoder: ImageEncoder, inputs: Iterable[str], batch_size: int = 32, threads: int | None = None,
                  project: Project | None = None) -> Iterator[EncodedBatch]:
    """Decode, encode (and project) images batch by batch, yielding batches in input order.

    `threads` (at most the cores) decoder threads; on the CPU as many encoder runs at once as
    single-threaded runs fit in `threads` cores, and one batch more in flight decoding meanwhile.
    """
    if batch_size < 1:
        raise ZsclfError("--batch-size must be at least 1")
    threads = clamp_threads(threads)[0]
    in_flight = max(1, threads // encoder.threads) if encoder.device == "cpu" else 1  # encoder runs at once
    runs = Semaphore(in_flight)
    source = iter(inputs)
    with ThreadPoolExecutor(threads, thread_name_prefix="zsclf-decode") as decode_pool, \
            ThreadPoolExecutor(in_flight + 1, thread_name_prefix="zsclf-encode") as encode_pool:
        running: deque[Future] = deque()
        while batch := list(islice(source, batch_size)):
            running.append(encode_pool.submit(_encode, encoder, project, batch, decode_pool, runs))
            if len(running) > in_flight:
                yield running.popleft().result()
        while running:
            yield running.popleft().result()
