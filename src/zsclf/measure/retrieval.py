"""Image-sentence retrieval, measured the way Karpathy & Fei-Fei (2015) do: R@1/5/10 and median rank
in both directions over every photo and every sentence of a pairs file (`zsclf eval-retrieval`).

`sim[i, c]` is the score of photo i for sentence c; `image_of[c]` is the photo sentence c describes.
Ranks are 1-based: 1 + the number of candidates scored strictly higher than the correct one.

* photo -> sentence: for each photo, the rank of its best-ranked correct sentence among all sentences;
* sentence -> photo: for each sentence, the rank of its photo among all photos.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

KS = (1, 5, 10)


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


def ranks_summary(ranks: np.ndarray, ks: Sequence[int] = KS) -> dict[str, float]:
    """{"R@1": …, "R@5": …, "R@10": …, "median_rank": …, "mean_rank": …, "queries": n}."""
    out = {f"R@{k}": recall_at(ranks, k) for k in ks}
    out["median_rank"] = float(np.median(ranks)) if len(ranks) else float("nan")
    out["mean_rank"] = float(np.mean(ranks)) if len(ranks) else float("nan")
    out["queries"] = int(len(ranks))
    return out


def retrieval_report(sim_i2t: np.ndarray, image_of: np.ndarray, sim_t2i: np.ndarray | None = None,
                     ks: Sequence[int] = KS) -> dict[str, dict[str, float]]:
    """Both directions. `sim_t2i` ([photos, sentences] too) when sentence -> photo search scores differently
    (a hubness correction is applied on the side being searched), else `sim_i2t` serves both."""
    i2t = image_to_text_ranks(sim_i2t, image_of)
    t2i = text_to_image_ranks(sim_i2t if sim_t2i is None else sim_t2i, image_of)
    return {"image_to_text": ranks_summary(i2t[i2t > 0], ks), "text_to_image": ranks_summary(t2i, ks)}


def mean_of(reports: Sequence[dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    """Mean over folds of every number in several reports (plus `<key>_sd`, the population sd)."""
    out: dict[str, dict[str, float]] = {}
    for direction in reports[0]:
        out[direction] = {}
        for key in reports[0][direction]:
            values = [r[direction][key] for r in reports]
            out[direction][key] = float(np.mean(values))
            if key.startswith("R@"):
                out[direction][f"{key}_sd"] = float(np.std(values))
    return out
