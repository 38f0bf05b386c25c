"""How good hedged answers are on labelled photos (`eval --hedge P`), per accuracy target P:

* accuracy: the answer is the photo's truth or one of its WordNet ancestors (Deng et al.'s hedged accuracy);
* exact: the answer is the most specific right node (the true label; for a class the hierarchy lacks, its
  most specific ancestor there, e.g. "warbler");
* information gain: log2(N) - log2(#labels under the answer) for a right answer, 0 for a wrong one; mean
  in bits and as a fraction of the largest possible (a single label: log2 N);
* depth: the share of answers at each WordNet depth (0 = "entity");
* common ancestor: the deepest node above every photo's truth (e.g. "bird" for a set of bird species) and
  the share of answers that are right and at or below it.

Reported for all photos and, when both are present, for photos of the CNN's classes ("seen") and others.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from ..data.dataset import Sample
from ..learn.calibrate import resolve_truths
from ..pipeline.encoding import EncodedBatch


class HedgeCollector:
    """Hedged answers for each target P, batch by batch, and their measures at the end."""

    def __init__(self, clf, samples: Sequence[Sample], targets: Sequence[float], rule: str,
                 hypernyms: dict[str, list[str]]) -> None:
        self.hedger = clf.hedger()
        for p in targets:
            self.hedger.check_target(p, rule)
        self.clf, self.targets, self.rule, self.hypernyms = clf, list(targets), rule, hypernyms
        h = self.hedger.hierarchy
        self.truths = resolve_truths(samples, clf.index.ids, clf.index.names, h, hypernyms, clf.seen_ids())
        self.answers: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (positions, nodes [b, P], mass [b, P])

    def add(self, at: np.ndarray, out: EncodedBatch) -> None:
        """One batch: `at` are the sample positions of the decoded photos."""
        assert out.logits is not None and out.queries is not None
        found = self.clf.index.search(out.queries, self.hedger.top_k)
        mass = self.hedger.node_mass(out.logits, found.scores, found.rows)
        nodes = np.stack([self.hedger.answer(mass, p, self.rule) for p in self.targets], axis=1)
        self.answers.append((at, nodes, np.take_along_axis(mass, nodes, axis=1)))

    def report(self) -> dict:
        """{"hedge": {"rule", "fitted_on", "targets": [{"p", "all", "seen", "unseen"}], ...}}."""
        h, memo = self.hedger.hierarchy, {}
        at = np.concatenate([a[0] for a in self.answers]) if self.answers else np.zeros(0, dtype=np.int64)
        usable = np.array([bool(self.truths.key[i]) for i in at], dtype=bool)
        at = at[usable]
        nodes = np.concatenate([a[1] for a in self.answers])[usable] if self.answers else np.zeros((0, 0), int)
        mass = np.concatenate([a[2] for a in self.answers])[usable] if self.answers else np.zeros((0, 0))
        keys = [self.truths.key[i] for i in at]
        correct = [h.correct_nodes(k, self.hypernyms, memo) for k in keys]
        exact = np.array([h.truth_node(k, self.hypernyms, memo) for k in keys], dtype=np.int64)
        seen = self.truths.cnn_class[at] >= 0
        groups = {"all": np.ones(len(at), dtype=bool)}
        if seen.any() and not seen.all():
            groups.update(seen=seen, unseen=~seen)
        targets = []
        for j, p in enumerate(self.targets):
            entry: dict = {"p": p}
            for name, mask in groups.items():
                idx = np.flatnonzero(mask)
                entry[name] = self._measure(nodes[idx, j], mass[idx, j], [correct[i] for i in idx], exact[idx], memo)
            targets.append(entry)
        return {"hedge": {"rule": self.rule, "fitted_on": self.hedger.model.fitted_on,
                          "labels_in_hierarchy": h.n_labels, "max_info_gain_bits": float(np.log2(h.n_labels)),
                          "photos": len(at), "skipped_no_truth": int((~usable).sum()), "targets": targets}}

    def _measure(self, nodes: np.ndarray, mass: np.ndarray, correct: list[set[int]], exact: np.ndarray,
                 memo: dict) -> dict:
        h, n = self.hedger.hierarchy, len(nodes)
        if n == 0:
            return {"photos": 0}
        right = np.array([v in c for v, c in zip(nodes.tolist(), correct, strict=True)])
        gain = self.hedger.gain[nodes] * right
        depth = Counter(int(d) for d in h.depth[nodes])
        common = common_ancestor(h, correct)
        below = np.array([common in h.node_ancestors(v, self.hypernyms, memo) for v in nodes.tolist()]) & right
        names, ids = self.hedger.taxonomy.names, self.hedger.taxonomy.ids
        return {"photos": n, "accuracy": float(right.mean()), "exact": float((nodes == exact).mean()),
                "info_gain_bits": float(gain.mean()), "info_gain_fraction": float(gain.mean() / np.log2(h.n_labels)),
                "mean_probability": float(mass.mean()), "mean_depth": float(h.depth[nodes].mean()),
                "depth": {str(d): c / n for d, c in sorted(depth.items())},
                "common_ancestor": {"label": names[common], "id": ids[common], "depth": int(h.depth[common]),
                                    "correct_at_or_below": float(below.mean())},
                "top_answers": [{"label": names[v], "count": c} for v, c in Counter(nodes.tolist()).most_common(5)]}


def common_ancestor(h, correct: list[set[int]]) -> int:
    """The deepest node that is a right answer for every photo (fewest labels under it on a tie)."""
    shared = set.intersection(*correct) if correct else set()
    if not shared:
        return int(np.argmax(h.under))
    return max(shared, key=lambda v: (int(h.depth[v]), -int(h.under[v])))
