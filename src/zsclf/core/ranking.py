"""Ranks of the right answer in image-sentence retrieval (Karpathy & Fei-Fei 2015), shared by the metrics
(`measure.retrieval`) and training's early stopping (`learn.pairs_map`).

`sim[i, c]` is the score of photo i for sentence c; `image_of[c]` is the photo sentence c describes.
A rank is 1 + the number of candidates scored strictly higher than the correct one.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _check(sim: np.ndarray, image_of: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    sim = np.asarray(sim, dtype=np.float64)
    image_of = np.asarray(image_of, dtype=np.int64)
    if sim.ndim != 2 or image_of.shape != (sim.shape[1],):
        raise ValueError(f"sim {sim.shape} needs one photo per sentence, got image_of {image_of.shape}")
    if image_of.min(initial=0) < 0 or image_of.max(initial=0) >= sim.shape[0]:
        raise ValueError("image_of holds a photo row outside sim")
    return sim, image_of


def image_to_text_ranks(sim: np.ndarray, image_of: np.ndarray) -> np.ndarray:
    """[n_photos] rank of each photo's best-ranked correct sentence (0 for a photo without sentences)."""
    sim, image_of = _check(sim, image_of)
    correct = image_of[None, :] == np.arange(sim.shape[0])[:, None]
    best = np.where(correct, sim, -np.inf).max(axis=1)
    ranks = 1 + (sim > best[:, None]).sum(axis=1)
    ranks[~correct.any(axis=1)] = 0
    return ranks


def text_to_image_ranks(sim: np.ndarray, image_of: np.ndarray) -> np.ndarray:
    """[n_sentences] rank of each sentence's photo among all photos."""
    sim, image_of = _check(sim, image_of)
    target = sim[image_of, np.arange(sim.shape[1])]
    return 1 + (sim > target[None, :]).sum(axis=0)


def recall_at(ranks: np.ndarray, k: int) -> float:
    """Fraction of queries whose rank is at most k."""
    ranks = np.asarray(ranks)
    return float((ranks <= k).mean()) if len(ranks) else float("nan")


def rsum(sim: np.ndarray, image_of: np.ndarray, ks: Sequence[int] = (1, 5, 10)) -> float:
    """R@1 + R@5 + R@10 in both directions (one number for model selection)."""
    i2t = image_to_text_ranks(sim, image_of)
    i2t, t2i = i2t[i2t > 0], text_to_image_ranks(sim, image_of)
    return sum(recall_at(i2t, k) + recall_at(t2i, k) for k in ks)
