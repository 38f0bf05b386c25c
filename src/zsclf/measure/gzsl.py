"""Generalised zero-shot measures on photos of seen and unseen classes (eval adds them when the photos
have both): novelty AUROC (energy vs the top softmax probability) and calibrated stacking (AUSUC, and
seen/unseen hit@k and their harmonic mean H at gamma = 0 and at the classifier's seen penalty).

A photo is "seen" when its id is one of the CNN's classes (a WNID of ImageNet-1K); stacking uses the
photos whose true label is an index label of their own group.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..core.vectors import softmax
from ..data.dataset import Sample
from ..learn.stacking import accuracy_at, best_gamma, critical_gammas, harmonic_mean, stacking_summary
from ..pipeline.encoding import EncodedBatch
from ..pipeline.seen import energy

STACK_KS = (1, 5)


def auroc(novel: np.ndarray, known: np.ndarray) -> float:
    """Area under the ROC curve for telling `novel` from `known` by a score that is higher for novel photos:
    P(score(novel) > score(known)) + P(tie) / 2 (Mann-Whitney U, ties averaged)."""
    novel, known = np.asarray(novel, dtype=np.float64), np.asarray(known, dtype=np.float64)
    if len(novel) == 0 or len(known) == 0:
        return float("nan")
    both = np.concatenate([novel, known])
    order = np.argsort(both, kind="mergesort")
    ordered = both[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ends = np.r_[starts[1:], len(both)]
    ranks = np.empty(len(both))
    ranks[order] = np.repeat((starts + ends - 1) / 2.0 + 1.0, ends - starts)
    u = ranks[:len(novel)].sum() - len(novel) * (len(novel) + 1) / 2.0
    return float(u / (len(novel) * len(known)))


class GzslCollector:
    """Collects per-photo novelty scores and critical gammas batch by batch (see the module doc)."""

    def __init__(self, clf, samples: Sequence[Sample], rows: Sequence[int], exclude_seen: bool) -> None:
        position = {wnid: c for c, wnid in enumerate(clf.seen_ids()) if wnid}
        self.seen = np.array([s.id in position for s in samples], dtype=bool)
        self.rows = np.asarray(rows, dtype=np.int64)
        self.seen_mask = np.zeros(len(clf.index), dtype=bool)
        self.seen_mask[clf.seen_rows()] = True
        self.eligible = (self.rows >= 0) & (self.seen == self.seen_mask[np.maximum(self.rows, 0)])
        both = self.eligible & self.seen, self.eligible & ~self.seen
        stack = not exclude_seen and both[0].any() and both[1].any()
        self.vectors = clf.index.vectors() if stack else None
        self.gamma = clf.seen_penalty
        self.scores: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {"energy": [], "max_softmax": []}
        self.crit: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {k: [] for k in STACK_KS}
        from ..pipeline.hedging import seen_score_for

        fitted = seen_score_for(clf.index.meta, clf.encoder.ref) is not None
        self.gate_rule = "energy" if fitted else "max_softmax"

    @classmethod
    def applies(cls, clf, samples: Sequence[Sample]) -> bool:
        """Are there photos of both seen and unseen classes?"""
        ids = set(clf.seen_ids())
        seen = [s.id in ids for s in samples]
        return any(seen) and not all(seen)

    def add(self, at: np.ndarray, out: EncodedBatch) -> None:
        """One batch: `at` are the sample positions of the decoded photos (rows of out.logits/queries)."""
        assert out.logits is not None and out.queries is not None
        self.scores["energy"].append((at, -energy(out.logits)))
        self.scores["max_softmax"].append((at, -softmax(out.logits).max(axis=1)))
        for k in STACK_KS:
            crit = critical_gammas(out.queries, self.vectors, self.rows[at], self.eligible[at], self.seen_mask, k)
            self.crit[k].append((at, crit))

    def report(self) -> dict:
        """{"novelty": {...}, "gzsl": {...}} (gzsl only when stacking applies)."""
        novelty: dict = {"seen_photos": 0, "unseen_photos": 0, "auroc": {}, "seen_gate_uses": self.gate_rule}
        for name, parts in self.scores.items():
            at, score = _join(parts)
            novelty["seen_photos"], novelty["unseen_photos"] = int(self.seen[at].sum()), int((~self.seen[at]).sum())
            novelty["auroc"][name] = auroc(score[~self.seen[at]], score[self.seen[at]])
        out = {"novelty": novelty}
        if self.vectors is not None:
            crit = {}
            for k, parts in self.crit.items():
                at, values = _join(parts)
                ok = self.eligible[at]
                crit[k] = (values[ok & self.seen[at]], values[ok & ~self.seen[at]])
            out["gzsl"] = stacking_summary(crit, self.gamma)
            best = best_gamma(*crit[5])  # picked on the photos it is measured on: an oracle, for comparison only
            seen, unseen = accuracy_at(*crit[5], best)
            out["gzsl"]["best_gamma_on_these_photos"] = {"gamma": best, "h5": float(harmonic_mean(seen, unseen)[0]),
                                                         "seen": float(seen[0]), "unseen": float(unseen[0])}
        return out


def _join(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    if not parts:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
