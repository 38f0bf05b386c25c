"""ImageNet sample: hit@k and hp@k with the 1K and 21K labels, the CNN softmax ceiling, top-t and seen gate."""

from __future__ import annotations

from typing import Any

from ..conclusions import TOLERANCE, gap_target, tolerance_text, tradeoff, within
from ..context import Context
from ..inputs import imagenet_manifest, imagenet_names
from ..markdown import at_k, coverage, failed_note, notes, pct, points, table, unmatched_note
from ..plan import DEFAULT_TOP_T, GATES, KS, TOP_TS, gate_key, imagenet_key
from ..runner import rel

INTRO = ("`zsclf eval {manifest}` against an index of `labels/imagenet1k.tsv` (built by this run with the default "
         "template) and against the default ImageNet-21K index. Percent; hp@k is hierarchical precision@k over "
         "WordNet; the CNN softmax row is the image model's own top-1/top-5 on its 1,000 training classes "
         "({images:,} photos), the ceiling for seen classes.")

VISUAL_WHY = "its second-best answers are visually, not semantically, close"


def main_table(r1k: dict[str, Any], v1k: dict[str, Any], r21k: dict[str, Any], soft_hit: dict[str, float]) -> str:
    """hit@k and hp@k for each label set, and the softmax row."""
    rows = []
    for name, result in ((f"1K labels ({r1k['labels_in_index']:,})", r1k), ("1K labels, visual space", v1k),
                         (f"21K labels ({r21k['labels_in_index']:,})", r21k)):
        rows += [[name, "hit@k", *at_k(result, "hit")], [name, "hp@k", *at_k(result, "hp")]]
    rows.append(["CNN softmax (1K classes, reference ceiling)", "top-k", *[pct(soft_hit.get(k)) for k in KS]])
    return table(["labels", "metric", *KS], rows, "ll" + "r" * len(KS))


def targets(r1k: dict[str, Any], v1k: dict[str, Any], soft_hit: dict[str, float]) -> str:
    """The two softmax-ceiling targets for ConSE, and how the visual space fares on them."""
    close = tolerance_text()
    visual_gap = v1k["hit"]["@5"] - soft_hit["@5"]
    default = "ConSE stays the default"
    if not within(r1k["hit"]["@5"], soft_hit["@5"]):
        default += ": its ranking follows the label embeddings, whose neighbours crowd out the CNN's runners-up"
    return notes(
        gap_target(f"hit@1 {close} of softmax top-1", r1k["hit"]["@1"], soft_hit["@1"]),
        gap_target(f"hit@5 {close} of softmax top-5", r1k["hit"]["@5"], soft_hit["@5"]),
        f"In the visual space (`build-index --space visual`: a seen class is its classifier row) the 1K "
        f"labels give hit@1 {pct(v1k['hit']['@1'])} and hit@5 {pct(v1k['hit']['@5'])} "
        f"({points(visual_gap)} vs softmax top-5): the hit@5 target is "
        f"{'met' if within(v1k['hit']['@5'], soft_hit['@5']) else 'not met'} there, "
        f"{tradeoff('hp@5', v1k['hp']['@5'], r1k['hp']['@5'], VISUAL_WHY)}. {default}.")


def sweep_table(ctx: Context, soft_hit: dict[str, float]) -> str:
    """hit@1 and hit@5 for each ConSE top-t, and the softmax reference."""
    rows = []
    for top_t in TOP_TS:
        result = ctx.get(imagenet_key("1k", top_t))
        name = f"{top_t} (default)" if top_t == DEFAULT_TOP_T else str(top_t)
        rows.append([name, pct(result["hit"]["@1"]), pct(result["hit"]["@5"])])
    rows.append(["CNN softmax", pct(soft_hit.get("@1")), pct(soft_hit.get("@5"))])
    return table(["top-t", "hit@1", "hit@5"], rows)


def gate_section(ctx: Context, r1k: dict[str, Any], r21k: dict[str, Any], soft_hit: dict[str, float]) -> str:
    """The seen-gate table and what the lowest gate does to the 1K labels."""
    rows = []
    for gate in GATES:
        for labels in ("1k", "21k"):
            g = ctx.get(gate_key(labels, gate))
            rows.append([f"{gate}", labels.upper(), pct(g["hit"]["@1"]), pct(g["hit"]["@5"]), pct(g["hp"]["@5"])])
    for labels, r in (("1K", r1k), ("21K", r21k)):
        rows.append(["off (default)", labels, pct(r["hit"]["@1"]), pct(r["hit"]["@5"]), pct(r["hp"]["@5"])])
    gated = ctx.get(gate_key("1k", GATES[0]))
    hit5 = gated["hit"]["@5"]
    side = "within" if within(hit5, soft_hit["@5"]) else "outside"
    cost = tradeoff("hp@5", gated["hp"]["@5"], r1k["hp"]["@5"])
    return "\n\n".join([
        table(["gate", "labels", "hit@1", "hit@5", "hp@5"], rows, "llrrr"),
        notes(f"With `--seen-gate {GATES[0]}` the 1K labels reach hit@5 {pct(hit5)} ({points(hit5 - soft_hit['@5'])} "
              f"vs softmax top-5: {side} the {100 * TOLERANCE:g}-point target) {cost}; the gate stays off by default."),
    ])


def section_imagenet(ctx: Context) -> str:
    """ImageNet sample: hit@k / hp@k with 1K and 21K labels, CNN softmax ceiling, top-t sweep, targets."""
    r1k, r21k = ctx.get(imagenet_key("1k")), ctx.get(imagenet_key("21k"))
    v1k = ctx.get("eval:imagenet-1k-visual")
    soft = r1k.get("cnn_softmax") or {}
    soft_hit = soft.get("hit", {})
    names = imagenet_names(ctx.data)
    classes = len(names)
    per_class = "one per class" if classes == r1k["images"] else f"{classes:,} classes"
    return "\n\n".join([
        f"## ImageNet sample: {r1k['images']:,} photos, {per_class}",
        INTRO.format(manifest=rel(imagenet_manifest(ctx.data)), images=soft.get("images", 0)),
        main_table(r1k, v1k, r21k, soft_hit),
        notes(f"1K labels: {coverage(r1k)}. {unmatched_note(r1k, names)}".strip(),
              f"21K labels: {coverage(r21k)}. {unmatched_note(r21k, names)}".strip(),
              failed_note(r1k), failed_note(r21k)),
        "### Targets (1K labels)",
        targets(r1k, v1k, soft_hit),
        "### ConSE top-t (1K labels)",
        "How many of the CNN's top seen classes are mixed into the query (`--top-t`).",
        sweep_table(ctx, soft_hit),
        "### Novelty gate (`--seen-gate P`, Socher et al. 2013)",
        "An image whose fitted probability of showing one of the CNN's classes, P(seen) = sigmoid(a · energy + b) "
        "(energy: logsumexp of its logits; a, b from the shipped hedging fit, partly on half of these photos), "
        "reaches P gets the CNN's own classes, in its order; the others keep ConSE's answers.",
        gate_section(ctx, r1k, r21k, soft_hit),
    ])
