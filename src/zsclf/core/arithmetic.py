"""Multimodal vector arithmetic (Kiros, Salakhutdinov & Zemel 2014): a photo or sentence query plus and minus
sentences,

    q = normalise( normalise(base) + w Σ normalise(plus) - w Σ normalise(minus) )

Measured on COCO (docs/retrieval.md): sentence queries respond at w = 1; photo queries need w ≈ 1.5,
because a photo's vector is a mix of many classes and one word moves it less.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

TEXT_WEIGHT = 1.0
PHOTO_WEIGHT = 1.5
MAX_WEIGHT = 100.0  # beyond this the base query is under 1 % of the sum (and 1e308 overflows to no results)


def unit(v: np.ndarray) -> np.ndarray:
    """One vector scaled to length 1 (a zero vector stays zero)."""
    v = np.asarray(v, dtype=np.float32)
    return v / max(float(np.linalg.norm(v)), 1e-12)


def compose(base: np.ndarray | None, plus: Sequence[np.ndarray] = (), minus: Sequence[np.ndarray] = (),
            weight: float = TEXT_WEIGHT) -> np.ndarray:
    """The query [D] before its final normalisation (its length says whether anything is left): the base
    (None: nothing) plus and minus `weight` times each unit vector."""
    vectors = [v for v in (*plus, *minus)]
    dim = len(base) if base is not None else len(vectors[0])
    q = unit(base) if base is not None else np.zeros(dim, np.float32)
    for v in plus:
        q = q + weight * unit(v)
    for v in minus:
        q = q - weight * unit(v)
    return q
