"""Flowers test split: 12-way zero-shot, and against the default 21K labels."""

from __future__ import annotations

from ..context import Context
from ..inputs import flower_species, flowers_manifest, seen_wnids
from ..markdown import at_k, count_word, coverage, failed_note, notes, noun, pct, table, unmatched_note
from ..plan import KS
from ..runner import rel

INTRO = ("`zsclf eval {manifest} --only test/` against an index of just the {n} species (the unique `wnid`/label "
         "pairs of that file, written to a `wnid name` TSV and built by this run; the file has no glosses, so the "
         "index embeds the bare names, template `name`) and against the default ImageNet-21K index. {seen} Percent.")


def seen_sentence(species: dict[str, str]) -> str:
    """Which species are among the CNN's 1,000 training classes, from labels/imagenet1k.tsv."""
    seen = [f"*{name}*" for wnid, name in species.items() if wnid in seen_wnids()]
    if not seen:
        return "None of the species is one of the CNN's 1,000 training classes: all are unseen."
    if len(seen) == 1:
        return f"Only {seen[0]} is one of the CNN's 1,000 training classes; the others are unseen."
    return (f"{', '.join(seen[:-1])} and {seen[-1]} are among the CNN's 1,000 training classes; "
            f"the other {len(species) - len(seen)} are unseen.")


def section_flowers(ctx: Context) -> str:
    """Flowers test split: 12-way zero-shot and against the 21K labels."""
    species = flower_species(ctx.data)
    r12, r21k = ctx.get("eval:flowers-12"), ctx.get("eval:flowers-21k")
    n = len(species)
    name = f"{n} species"
    rows = [
        [name, "hit@k", *at_k(r12, "hit")],
        [name, "hp@k", *at_k(r12, "hp")],
        [name, f"chance (k/{n})", *[pct(int(k[1:]) / n) if int(k[1:]) <= n else "–" for k in KS]],
        [f"21K labels ({r21k['labels_in_index']:,})", "hit@k", *at_k(r21k, "hit")],
        [f"21K labels ({r21k['labels_in_index']:,})", "hp@k", *at_k(r21k, "hp")],
    ]
    soft = r12.get("cnn_softmax") or {}
    soft_note = ""
    if soft:
        seen = sum(wnid in seen_wnids() for wnid in species)
        soft_note = (f"CNN softmax on the {soft['images']} photos of its {count_word(seen)} seen flower "
                     f"{noun(seen, 'class', 'es')}: "
                     f"top-1 {pct(soft['hit'].get('@1'))}, top-5 {pct(soft['hit'].get('@5'))}.")
    confusions = r12.get("confusions") or []
    top_confusions = ", ".join(f"{c['true']} → {c['predicted']} ({c['count']})" for c in confusions[:4])
    return "\n\n".join([
        f"## Flowers: {r12['images']} test photos, {n} species",
        INTRO.format(manifest=rel(flowers_manifest(ctx.data)), n=n, seen=seen_sentence(species)),
        table(["labels", "metric", *KS], rows, "ll" + "r" * len(KS)),
        notes(f"{name}: {coverage(r12)}.",
              f"21K labels: {coverage(r21k)}. {unmatched_note(r21k, species)}".strip(),
              f"Most frequent {n}-way confusions: {top_confusions}." if top_confusions else "",
              soft_note, failed_note(r12), failed_note(r21k)),
    ])
