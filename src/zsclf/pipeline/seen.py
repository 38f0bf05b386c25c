"""The CNN's own (seen) classes in a label space: their embeddings for ConSE (cached), where they sit
in an index, the novelty score (energy) and the gate that answers confident images with them
(Socher et al. 2013)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ..core import paths
from ..core.device import SessionConfig
from ..core.fsio import atomic_file, open_regular
from ..core.vectors import normalize
from ..data.labels import LabelSet, imagenet1k
from ..index.label_index import SearchResult
from ..index.meta import SeenScore, TextSpace
from .projection import DEFAULT_TOP_T, ConSE


def seen_embeddings_key(text_sha256: str, template: str, label_texts: list[str]) -> str:
    """Cache key for the seen-class matrix: text encoder, template and the exact texts embedded."""
    digest = hashlib.sha256()
    for part in (text_sha256, template, *label_texts):
        digest.update(part.encode("utf-8"))
        digest.update(b"\0")
    return digest.hexdigest()[:20]


def cached_seen_embeddings(text_sha256: str, template: str, label_texts: list[str],
                           embed: Callable[[list[str]], np.ndarray], cache: Path | None = None) -> np.ndarray:
    """The [1000, d] seen-class embedding matrix, from the cache or built with `embed` and cached.

    The cache file is named by a hash of the text encoder, template and texts, so a change to
    any of them makes a new one; a damaged cache file is rebuilt.
    """
    cache = cache or paths.cache_dir()
    path = cache / f"seen-{seen_embeddings_key(text_sha256, template, label_texts)}.npy"
    try:
        with open_regular(path) as fh:
            matrix = np.load(fh, allow_pickle=False)
        if matrix.ndim == 2 and len(matrix) == len(label_texts) and np.isfinite(matrix).all():
            return matrix
    except (OSError, ValueError, EOFError):
        pass
    matrix = normalize(embed(label_texts))
    try:
        with atomic_file(path) as fh:
            np.save(fh, matrix)
    except OSError:  # a read-only cache only costs the next run the same work
        pass
    return matrix


def seen_class_embeddings(space: TextSpace, embed: Callable[[list[str]], np.ndarray] | None = None,
                          classes: LabelSet | None = None) -> np.ndarray:
    """An image classifier's classes (default: ImageNet-1K) embedded in `space` (cached next to the models); the
    text encoder is loaded (on the CPU) only when the cache lacks them, unless `embed` is given."""
    texts = (classes or imagenet1k()).texts(space.template)

    def load_and_embed(batch: list[str]) -> np.ndarray:
        from ..models.text_encoder import TextEncoder

        return TextEncoder.load(space.text_encoder.name, SessionConfig(device="cpu")).embed(batch)

    return cached_seen_embeddings(space.text_encoder.sha256, space.template, texts, embed or load_and_embed)


def conse_for(space: TextSpace, top_t: int = DEFAULT_TOP_T, temperature: float = 1.0) -> ConSE:
    """ConSE whose seen-class embeddings are made with the space's text encoder and template."""
    return ConSE(seen_class_embeddings(space), top_t, temperature)


def seen_class_rows(index_ids: Sequence[str], index_names: Sequence[str], seen_ids: Sequence[str],
                    seen_names: Sequence[str]) -> np.ndarray:
    """Index row of each of the CNN's classes (matched by WNID, else by name; -1 where the index lacks it)."""
    by_id = {label_id or name: row for row, (label_id, name) in enumerate(zip(index_ids, index_names, strict=True))}
    return np.array([by_id.get(wnid, by_id.get(name, -1)) for wnid, name in zip(seen_ids, seen_names, strict=True)],
                    dtype=np.int64)


def energy(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """[B] T * logsumexp(logits / T): high for photos of the CNN's classes, low for novel ones (Liu et al.
    2020). The density view of a softmax classifier: with class-conditional Gaussians of shared covariance,
    log p(x) = logsumexp(logits) - x'S^-1 x / 2 + const; the quadratic part points the wrong way on our photos."""
    z = np.asarray(logits, dtype=np.float64) / temperature
    top = z.max(axis=1)
    return temperature * (top + np.log(np.exp(z - top[:, None]).sum(axis=1)))


def seen_probability(score: SeenScore, logits: np.ndarray) -> np.ndarray:
    """[B] P(the photo shows one of the CNN's classes) = sigmoid(a * energy + b), fitted on labelled photos."""
    z = score.a * energy(logits, score.temperature) + score.b
    return 1.0 / (1.0 + np.exp(-np.clip(z, -50.0, 50.0)))


def apply_seen_gate(result: SearchResult, probs: np.ndarray, class_rows: np.ndarray, gate: float,
                    p_seen: np.ndarray | None = None) -> tuple[SearchResult, np.ndarray]:
    """Replace the answers of images that probably show a seen class (`p_seen` >= `gate`; without `p_seen`,
    the old rule: top softmax probability >= `gate`) *and whose top class is in the index* by the CNN's
    classes: the seen classes the index holds, in the CNN's order (scored by their probabilities); if the
    index holds fewer than k of them, the free places keep the earlier answers.
    Returns the result and a mask of the gated images."""
    rows, scores = result.rows.copy(), result.scores.copy()
    present = class_rows >= 0
    top = probs.argmax(axis=1)
    gated = ((probs.max(axis=1) if p_seen is None else p_seen) >= gate) & present[top]
    for i in np.flatnonzero(gated):
        order = np.argsort(-probs[i])
        order = order[present[order]][: rows.shape[1]]
        taken = set(class_rows[order].tolist())
        keep = [j for j, r in enumerate(result.rows[i]) if r not in taken]
        rows[i] = np.concatenate([class_rows[order], result.rows[i, keep]])[: rows.shape[1]]
        scores[i] = np.concatenate([probs[i, order], result.scores[i, keep]])[: rows.shape[1]]
    return SearchResult(scores, rows), gated
