"""Accuracy on labelled photos: flat hit@k, DeViSE's hierarchical precision@k, per-class accuracy, confusions."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from ..core.progress import Progress, counter
from ..data.dataset import Sample, match_samples
from ..errors import ZsclfError

HIT_KS = (1, 2, 5, 10, 20)


def hit_at_k(ranked: np.ndarray, truth: np.ndarray, ks: Sequence[int] = HIT_KS) -> dict[int, float]:
    """Fraction of rows whose true label (truth[i]) is among the first k of ranked[i]."""
    if len(truth) == 0:
        return {k: float("nan") for k in ks}
    hits = ranked == truth[:, None]
    return {k: float(hits[:, :k].any(axis=1).mean()) for k in ks}


class Hierarchy:
    """The WordNet noun graph (undirected: hypernym and hyponym edges) restricted to an index's labels."""

    def __init__(self, hypernyms: dict[str, list[str]], label_ids: Sequence[str]) -> None:
        self.adjacency: dict[str, list[str]] = {}
        for child, parents in hypernyms.items():
            for parent in parents:
                self.adjacency.setdefault(child, []).append(parent)
                self.adjacency.setdefault(parent, []).append(child)
        self.labels = set(label_ids)
        self._rings: dict[tuple[str, int], list[set[str]]] = {}

    def rings(self, wnid: str, need: int) -> list[set[str]]:
        """Index labels at hop distance 0, 1, 2, ... from `wnid`, until `need` labels are collected."""
        key = (wnid, need)
        if key not in self._rings:
            seen, frontier, rings, total = {wnid}, [wnid], [], 0
            while frontier and total < need:
                ring = {n for n in frontier if n in self.labels}
                rings.append(ring)
                total += len(ring)
                nxt = []
                for node in frontier:
                    for neighbour in self.adjacency.get(node, ()):
                        if neighbour not in seen:
                            seen.add(neighbour)
                            nxt.append(neighbour)
                frontier = nxt
            self._rings[key] = rings
        return self._rings[key]

    def correct_set(self, wnid: str, k: int) -> set[str]:
        """DeViSE's hp@k ground truth: labels within the smallest hop radius that holds at least k labels."""
        out: set[str] = set()
        for ring in self.rings(wnid, k):
            out |= ring
            if len(out) >= k:
                break
        return out


def hierarchical_precision(top_ids: Sequence[Sequence[str]], true_ids: Sequence[str], hierarchy: Hierarchy,
                           ks: Sequence[int] = HIT_KS) -> dict[int, float]:
    """hp@k = |top-k ∩ correct_set(truth, k)| / k, averaged over samples (Frome et al. 2013)."""
    out = {}
    for k in ks:
        scores = [len(set(top[:k]) & hierarchy.correct_set(truth, k)) / k
                  for top, truth in zip(top_ids, true_ids, strict=True)]
        out[k] = float(np.mean(scores)) if scores else float("nan")
    return out


def mean_per_class_accuracy(top1: np.ndarray, truth: np.ndarray) -> float:
    """Top-1 accuracy averaged over classes (each class weighs the same, however many photos it has)."""
    classes = np.unique(truth)
    return float(np.mean([(top1[truth == c] == c).mean() for c in classes])) if len(classes) else float("nan")


def answer_skew(top1: np.ndarray, truth: np.ndarray, names: Sequence[str]) -> dict:
    """How much the answers lean on one label: the label whose share of top-1 answers is the largest multiple of
    its share of the true labels (labels that are some photo's truth only), and the most given label."""
    if not len(truth):
        return {}
    answered = Counter(top1.tolist())
    true = Counter(truth.tolist())
    ratio, label = max((answered[c] / n, c) for c, n in true.items())
    most, count = answered.most_common(1)[0]
    n = len(truth)
    return {"label": names[label], "ratio": ratio, "answered_share": answered[label] / n, "true_share": true[label] / n,
            "most_answered": names[most], "most_answered_share": count / n}


def confusions(top1: np.ndarray, truth: np.ndarray, names: Sequence[str], most: int = 10) -> list[dict]:
    """The most frequent (true, predicted) pairs among top-1 mistakes."""
    pairs = Counter((int(t), int(p)) for t, p in zip(truth, top1, strict=True) if t != p)
    return [{"true": names[t], "predicted": names[p], "count": n} for (t, p), n in pairs.most_common(most)]


def evaluate(clf, samples: Sequence[Sample], ks: Sequence[int] = HIT_KS, exclude_seen: bool = False,
             batch_size: int = 32, hypernyms: dict[str, list[str]] | None = None,
             progress: Progress | None = None, hedge: Sequence[float] = (), hedge_rule: str = "darts") -> dict:
    """Run `clf` (a Classifier) over labelled samples and compute every metric; with photos of seen and
    unseen classes also novelty AUROC and calibrated stacking (measure.gzsl); with `hedge` targets, the
    hedged answers' measures (measure.hedged_eval)."""
    from ..data.labels import read_hypernyms

    index = clf.index
    rows, unmatched = match_samples(samples, index.ids, index.names)
    if samples and max(rows) < 0:
        shown = ", ".join(list(unmatched)[:3])
        raise ZsclfError(f"no label of the {len(samples)} photos is in the index ({len(index)} labels; "
                         f"e.g. {shown}): evaluate against an index that has them (--index)")
    kmax = min(max(ks), len(index))
    seen_position = {wnid: i for i, wnid in enumerate(clf.seen_ids()) if wnid}  # the image model's own classes
    extras = _collectors(clf, samples, rows, exclude_seen, hedge, hedge_rule, hypernyms or read_hypernyms())
    ranked, logit_top, failed = [], [], []
    advance = counter(progress, "evaluating", len(samples))
    position = 0
    for out in clf.stream([s.path for s in samples], batch_size):
        ok = out.ok
        failed += [str(e) for e in out.errors if e is not None]
        if ok:
            result, _ = clf.search(out.queries, out.logits, kmax, exclude_seen)
            top5 = np.argsort(-out.logits, axis=1)[:, :5]
            padded = np.full((len(ok), kmax), -1, dtype=np.int64)  # an index with fewer labels than kmax
            padded[:, :result.rows.shape[1]] = result.rows
            for j, i in enumerate(ok):
                ranked.append((position + i, padded[j]))
                logit_top.append((position + i, top5[j]))
            for extra in extras:
                extra.add(position + np.asarray(ok), out)
        position += len(out.paths)
        if advance:
            advance(len(out.paths))
    keep = [(i, r) for i, r in ranked if rows[i] >= 0]
    truth = np.array([rows[i] for i, _ in keep], dtype=np.int64)
    top = np.array([r for _, r in keep], dtype=np.int64).reshape(len(keep), kmax)
    ks = [k for k in ks if k <= kmax]
    report = {
        "images": len(samples), "evaluated": len(keep), "failed": len(failed), "errors": failed[:10],
        "unmatched": dict(unmatched.most_common()), "labels_in_index": len(index),
        "exclude_seen": exclude_seen, "projection": clf.projection.name,
        "hit": {f"@{k}": v for k, v in hit_at_k(top, truth, ks).items()},
        "mean_per_class_accuracy": mean_per_class_accuracy(top[:, 0], truth) if len(keep) else float("nan"),
        "skew": answer_skew(top[:, 0], truth, index.names) if len(keep) else {},
        "confusions": confusions(top[:, 0], truth, index.names) if len(keep) else [],
    }
    truth_ids = [index.ids[t] for t in truth]
    if hypernyms and truth_ids and all(tid in hypernyms for tid in truth_ids):
        hierarchy = Hierarchy(hypernyms, index.ids)
        top_ids = [[index.ids[r] for r in row if r >= 0] for row in top]
        report["hp"] = {f"@{k}": v for k, v in hierarchical_precision(top_ids, truth_ids, hierarchy, ks).items()}
    seen_truth = [(seen_position.get(samples[i].id), logits) for i, logits in logit_top]
    seen_truth = [(c, t) for c, t in seen_truth if c is not None]
    if seen_truth:
        cls = np.array([c for c, _ in seen_truth])
        tops = np.stack([t for _, t in seen_truth])
        ref = hit_at_k(tops, cls, (1, 5))
        report["cnn_softmax"] = {"images": len(cls), "hit": {"@1": ref[1], "@5": ref[5]}}
    if clf.seen_penalty:
        report["seen_penalty"] = clf.seen_penalty
    for extra in extras:
        report.update(extra.report())
    return report


def _collectors(clf, samples: Sequence[Sample], rows: list[int], exclude_seen: bool, hedge: Sequence[float],
                rule: str, hypernyms: dict[str, list[str]]) -> list:
    """The extra measures that apply: GZSL (seen and unseen photos) and hedged answers (`hedge` targets)."""
    from .gzsl import GzslCollector

    extras: list = []
    if GzslCollector.applies(clf, samples):
        extras.append(GzslCollector(clf, samples, rows, exclude_seen))
    if hedge:
        from .hedged_eval import HedgeCollector

        extras.append(HedgeCollector(clf, samples, hedge, rule, hypernyms))
    return extras
