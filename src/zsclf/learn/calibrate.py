"""`zsclf calibrate`: fit the hedging model (and the seen-class penalty) of an index on labelled photos.

The photos run through the classifier's own encode loop; per photo we keep the CNN's logits, the top-K
index search and, for calibrated stacking, where its true label drops in or out of the top 1 and top 5
as the penalty changes. The fit itself is learn.hedge_fit (temperatures, P(seen), DARTS's lambda table)
and learn.stacking (gamma, picked on one seeded half of the eligible photos, reported on the other).

Photos of the CNN's own classes (their id is one of its WNIDs) are "seen", the others "unseen"; both are
needed. A photo's truth for hedging is its WNID, else its index label, else its `parent` WNID
(e.g. "warbler" for a species WordNet lacks); photos with none of these are skipped.

`store_fit` publishes the fit as a new version of the index (same vectors and labels, meta.json with
`hedging`), locked and atomic like a build.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..core.progress import Progress, counter
from ..data.dataset import Sample, match_samples
from ..errors import ZsclfError, check_number
from ..index.meta import FittedFor, HedgingModel, IndexMeta, LambdaTable, SeenScore, now
from ..index.store import LABELS_FILE, republish
from ..pipeline.classifier import Classifier
from ..pipeline.hedging import describe_projection, mixture
from ..pipeline.hierarchy import Graph, Hierarchy
from ..pipeline.taxonomy import Taxonomy
from ..version import __version__
from . import hedge_fit
from .stacking import best_gamma, critical_gammas, stacking_summary

TOP_K = 200  # index search results in the mixture (FINDINGS: K = 50-200 all meet the targets; 200 most leaves)
MIN_PROB = 1e-4  # label probabilities below this are not summed (2.5-3x faster; masses drop <= 0.013)
STACK_KS = (1, 5)
CHUNK = 256


@dataclass
class Truths:
    """Per photo: its hedging truth (a WNID, "#row", or "" when unusable), its CNN class (-1: unseen) and
    its exact index row (-1: the index lacks it)."""

    key: list[str]
    cnn_class: np.ndarray
    row: np.ndarray


def resolve_truths(samples: Sequence[Sample], ids: Sequence[str], names: Sequence[str], hierarchy: Hierarchy,
                   hypernyms: Graph, seen_ids: Sequence[str]) -> Truths:
    """Each photo's truth for hedging, CNN class and index row (see the module doc)."""
    rows, _ = match_samples(samples, ids, names)
    position = {wnid: c for c, wnid in enumerate(seen_ids) if wnid}
    keys = []
    for sample, row in zip(samples, rows, strict=True):
        if sample.id and (hierarchy.node_id(sample.id) >= 0 or sample.id in hypernyms):
            keys.append(sample.id)
        elif row >= 0:
            keys.append(hierarchy.nodes[hierarchy.label_node[row]])
        else:
            keys.append(sample.parent if sample.parent in hypernyms else "")
    cnn_class = np.array([position.get(s.id, -1) for s in samples], dtype=np.int64)
    return Truths(keys, cnn_class, np.asarray(rows, dtype=np.int64))


@dataclass
class Collected:
    """What the fit needs from the photos that could be read (in input order)."""

    keep: np.ndarray  # positions in the sample list
    logits: np.ndarray
    top_scores: np.ndarray
    top_rows: np.ndarray
    crit: dict[int, np.ndarray]  # k -> [n] critical gamma of each photo (see learn.stacking)
    eligible: np.ndarray  # [n] its true label is an index label of its own group (seen or not): stacking
    failed: list[str]


def collect(clf: Classifier, samples: Sequence[Sample], truths: Truths, batch_size: int = 32,
            progress: Progress | None = None) -> Collected:
    """Run the photos through the classifier; keep logits, the top-K search and the critical gammas."""
    seen_rows = clf.seen_rows()
    seen_mask = np.zeros(len(clf.index), dtype=bool)
    seen_mask[seen_rows] = True
    eligible = (truths.row >= 0) & ((truths.cnn_class >= 0) == seen_mask[np.maximum(truths.row, 0)])
    vectors = clf.index.vectors() if eligible.any() and seen_mask.any() and not seen_mask.all() else None
    keep, logits, scores, rows, failed = [], [], [], [], []
    crit: dict[int, list[np.ndarray]] = {k: [] for k in STACK_KS}
    advance, position = counter(progress, "calibrating", len(samples)), 0
    for out in clf.stream([s.path for s in samples], batch_size):
        failed += [str(e) for e in out.errors if e is not None]
        if out.ok:
            at = position + np.asarray(out.ok)
            found = clf.index.search(out.queries, TOP_K)
            keep.append(at)
            logits.append(out.logits)
            scores.append(found.scores)
            rows.append(found.rows)
            for k in STACK_KS:
                crit[k].append(critical_gammas(out.queries, vectors, truths.row[at], eligible[at], seen_mask, k))
        position += len(out.paths)
        if advance:
            advance(len(out.paths))
    if not keep:
        raise ZsclfError(f"none of the {len(samples)} photos could be read (first error: {failed[:1]})")
    at = np.concatenate(keep)
    return Collected(at, np.concatenate(logits).astype(np.float64), np.concatenate(scores),
                     np.concatenate(rows).astype(np.int64), {k: np.concatenate(v) for k, v in crit.items()},
                     eligible[at] & (vectors is not None), failed)


def fit_lambdas(model: HedgingModel, taxonomy: Taxonomy, data: Collected, correct: list[set[int]],
                seen: np.ndarray) -> list[float]:
    """DARTS's lambda table for `model` (its temperatures and P(seen) fitted), in chunks of photos."""
    h, gain = taxonomy.hierarchy, taxonomy.hierarchy.info_gain
    parts = []
    for start in range(0, len(data.logits), CHUNK):
        end = start + CHUNK
        probs, rows = mixture(model, data.logits[start:end], data.top_scores[start:end], data.top_rows[start:end],
                              taxonomy.class_label)
        nodes, cmass, cgain = hedge_fit.pareto_candidates(h.node_mass(probs, rows, model.min_prob), gain)
        right = np.array([[v in correct[start + i] for v in row] for i, row in enumerate(nodes.tolist())], dtype=bool)
        parts.append((nodes, cmass, cgain, right & (nodes >= 0)))
    width = max(p[0].shape[1] for p in parts)
    cmass, cgain, right = (np.vstack([np.pad(p[j], ((0, 0), (0, width - p[j].shape[1]))) for p in parts])
                           for j in (1, 2, 3))
    return hedge_fit.fit_lambda_table(cmass, cgain, right, seen)


def pick_gamma(data: Collected, cnn_class: np.ndarray, fixed: float | None = None,
               seed: int = 0) -> tuple[float, dict | None]:
    """Calibrated stacking's gamma: best H@5 on one seeded half of the eligible photos (or `fixed`), reported on
    the other half."""
    crit = data.crit[5]
    ok = np.flatnonzero(data.eligible)
    seen = cnn_class[ok] >= 0
    if seen.all() or not seen.any():
        return fixed or 0.0, None
    first = np.zeros(len(ok), dtype=bool)
    first[np.random.default_rng(seed).permutation(len(ok))[: len(ok) // 2]] = True
    gamma = best_gamma(crit[ok[first & seen]], crit[ok[first & ~seen]]) if fixed is None else fixed
    halves = {k: (data.crit[k][ok[~first & seen]], data.crit[k][ok[~first & ~seen]]) for k in STACK_KS}
    report = stacking_summary(halves, gamma)
    report["picked_on"] = int(first.sum()) if fixed is None else 0
    return gamma, report


def fit_model(clf: Classifier, data: Collected, truths: Truths, source: str,
              seen_penalty: float | None = None) -> tuple[HedgingModel, dict]:
    """Every parameter from the collected photos (module doc; `seen_penalty` fixes gamma instead of picking it);
    returns the model and what was measured."""
    from ..data.labels import read_hypernyms

    taxonomy, hypernyms = clf.taxonomy(), read_hypernyms()
    h = taxonomy.hierarchy
    keys = [truths.key[i] for i in data.keep]
    usable = np.array([bool(k) for k in keys])
    cnn_class = truths.cnn_class[data.keep]
    seen = cnn_class >= 0
    if not (usable & seen).any() or not (usable & ~seen).any():
        raise ZsclfError(f"calibration needs photos of the CNN's own classes and of other classes; found "
                         f"{int((usable & seen).sum())} and {int((usable & ~seen).sum())} usable photos")
    memo: dict = {}
    truth_node = np.array([h.truth_node(k, hypernyms, memo) if k else -1 for k in keys])
    unseen = usable & ~seen
    mask = h.under_node(data.top_rows[unseen], truth_node[unseen])
    t_cnn, t_index = hedge_fit.fit_temperatures(data.logits[usable], np.where(seen, cnn_class, -1)[usable],
                                                data.top_scores[usable], data.top_rows[usable], mask)
    a, b = hedge_fit.fit_seen(data.logits[usable], seen[usable])
    gamma, stacking = pick_gamma(data, cnn_class, seen_penalty)
    meta = clf.index.meta
    labels = (meta.files or {}).get(LABELS_FILE)
    model = HedgingModel(
        cnn_temperature=t_cnn, index_temperature=t_index, top_k=TOP_K, min_prob=MIN_PROB, seen=SeenScore(a, b),
        darts_lambda=LambdaTable(list(hedge_fit.P_GRID), [0.0] * len(hedge_fit.P_GRID)), seen_penalty=gamma,
        fitted_for=FittedFor(clf.encoder.ref, meta.text_encoder.name, meta.template,
                             describe_projection(clf.projection), meta.count, labels.crc32 if labels else ""),
        fitted_on=source, created=now(), zsclf_version=__version__,
        photos={"seen": int((usable & seen).sum()), "unseen": int(unseen.sum()), "skipped": int((~usable).sum())},
        stacking=stacking_record(stacking) if stacking else None)
    data_used = _take(data, usable)
    correct = [h.correct_nodes(k, hypernyms, memo) for k in np.asarray(keys, dtype=object)[usable]]
    lams = fit_lambdas(model, taxonomy, data_used, correct, seen[usable])
    model = replace(model, darts_lambda=LambdaTable(list(hedge_fit.P_GRID), lams))
    return model, {"stacking": stacking, "failed": len(data.failed), "errors": data.failed[:10]}


def _take(data: Collected, mask: np.ndarray) -> Collected:
    return Collected(data.keep[mask], data.logits[mask], data.top_scores[mask], data.top_rows[mask],
                     {k: v[mask] for k, v in data.crit.items()}, data.eligible[mask], data.failed)


def stacking_record(report: dict) -> dict[str, float]:
    """What meta.json records about the choice of gamma: the photos and hit@5/H@5 on the report half."""
    g = f"gamma={report['gamma']:g}"
    hit5, h5 = report["hit"]["@5"], report["h"]["@5"]
    return {"picked_on_photos": report["picked_on"], "reported_on_seen_photos": report["seen_photos"],
            "reported_on_unseen_photos": report["unseen_photos"], "ausuc5": report["ausuc"]["@5"],
            "h5_at_gamma": h5[g], "h5_at_zero": h5["gamma=0"], "seen_hit5_at_gamma": hit5[g]["seen"],
            "seen_hit5_at_zero": hit5["gamma=0"]["seen"], "unseen_hit5_at_gamma": hit5[g]["unseen"],
            "unseen_hit5_at_zero": hit5["gamma=0"]["unseen"]}


def calibrate(clf: Classifier, samples: Sequence[Sample], source: str = "", batch_size: int = 32,
              progress: Progress | None = None, seen_penalty: float | None = None) -> tuple[HedgingModel, dict]:
    """Fit the hedging model of `clf`'s index on labelled photos (with `seen_penalty`, gamma is that instead of
    picked); returns it and a report (see module doc)."""
    from ..data.labels import read_hypernyms
    from ..pipeline.queries import require_classes

    check_number("--seen-penalty", seen_penalty)
    if clf.encoder.num_classes == 0:
        require_classes(clf.encoder.spec, "a hedging fit (the mixture of the CNN's and the index's probabilities)")

    truths = resolve_truths(samples, clf.index.ids, clf.index.names, clf.taxonomy().hierarchy, read_hypernyms(),
                            clf.seen_ids())
    if not (truths.cnn_class >= 0).any() or (truths.cnn_class >= 0).all():
        n = int((truths.cnn_class >= 0).sum())
        raise ZsclfError(f"calibration needs photos of the CNN's own classes and of other classes; of the "
                         f"{len(samples)} photos {n} show one of its classes and {len(samples) - n} another")
    data = collect(clf, samples, truths, batch_size, progress)
    return fit_model(clf, data, truths, source or f"{len(samples)} photos", seen_penalty)


def store_fit(index_dir: str | Path, model: HedgingModel, wait: float | None = None) -> Path:
    """Publish `model` as the hedging fit of the index in `index_dir` (a new version, same vectors and labels);
    refused when the index's labels changed since the fit was made."""
    def change(meta: IndexMeta) -> IndexMeta:
        labels = (meta.files or {}).get(LABELS_FILE)
        if labels is None or labels.crc32 != model.fitted_for.labels_crc32 or meta.count != model.fitted_for.labels:
            raise ZsclfError(f"{index_dir}: the index was rebuilt while calibrating; run `zsclf calibrate` again")
        return meta.with_(hedging=model)

    return republish(index_dir, change, wait)


def write_fit(path: str | Path, model: HedgingModel) -> None:
    """Write `model` as a JSON file (e.g. the shipped defaults), atomically."""
    import json

    from ..core import typed_json
    from ..core.fsio import atomic_file

    with atomic_file(path) as fh:
        fh.write((json.dumps(typed_json.dump(model), indent=2) + "\n").encode())


def run_calibration(clf: Classifier, index_dir: Path, data: Sequence[Path], only: str | None = None,
                    output: Path | None = None, batch_size: int = 32, progress: Progress | None = None,
                    seen_penalty: float | None = None) -> dict:
    """`zsclf calibrate`: read the photo sets, fit, and store the fit in the index (or write it to `output`,
    checked before any work). Returns a report: what was fitted, on what, and where it went."""
    from ..core.targets import check_output_file
    from ..data.dataset import read_dataset

    if output is not None:
        check_output_file(output, "hedging fit")
    samples = [s for source in data for s in read_dataset(source, only)]
    source = " + ".join(str(d) + (f" ({only}*)" if only else "") for d in data)
    model, report = calibrate(clf, samples, source, batch_size, progress, seen_penalty)
    if output is not None:
        write_fit(output, model)
    else:
        store_fit(index_dir, model)
    from ..core import typed_json

    return {"written_to": str(output or index_dir), "photos": len(samples), **report,
            "fit": typed_json.dump(model)}
