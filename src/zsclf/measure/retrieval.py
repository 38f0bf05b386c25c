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

from ..core.ranking import image_to_text_ranks, recall_at, text_to_image_ranks

KS = (1, 5, 10)
__all__ = ["KS", "image_to_text_ranks", "text_to_image_ranks", "recall_at", "ranks_summary", "retrieval_report"]


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
