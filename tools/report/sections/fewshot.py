"""Photo-taught labels (1/5/20 shots), DeViSE, the text->visual map, mixed indexes and seen-class accuracy."""

from __future__ import annotations

from typing import Any

from ..conclusions import (
    FIVE_SHOT_TARGET,
    ZERO_SHOT_FACTOR,
    chance_text,
    close,
    compare,
    dominant_answers,
    gap_range,
    names_and,
    times_text,
    tolerance_text,
    verdict,
    within,
)
from ..context import Context
from ..inputs import flower_species, per_species, seen_wnids, species_part
from ..markdown import at_k, count_word, noun, pct, plural, table
from ..markdown import notes as bullets
from ..plan import KS, SHOTS, SPACES, TAUGHT_SHOTS, fewshot_key, imagenet_key

Results = list[dict[str, Any]]


def mean_hit(results: Results, k: str = "@1") -> tuple[float, float]:
    """Mean and spread of hit@k over several runs."""
    values = [r["hit"][k] for r in results]
    mean = sum(values) / len(values)
    return mean, (sum((v - mean) ** 2 for v in values) / len(values)) ** 0.5


def shots_part(ctx: Context) -> list[str]:
    """The shots table (visual and text space, mean ± spread over the seeds) and its conclusions."""
    rows, hit1 = [], {}
    for shots in SHOTS:
        cells = []
        for space in SPACES:
            runs = [ctx.get(fewshot_key(space, shots, seed)) for seed in ctx.plan.seeds]
            mean, spread = mean_hit(runs)
            hit1[space, shots] = mean
            cells += [f"{pct(mean)} ± {pct(spread)}", pct(mean_hit(runs, "@5")[0])]
        rows.append([str(shots), *cells])
    five = hit1["visual", TAUGHT_SHOTS]
    gaps = [hit1["visual", s] - hit1["text", s] for s in SHOTS]
    if all(gap > 0 for gap in gaps):
        text_space = f"photos averaged in the text space through ConSE trail it by {gap_range(gaps)} at hit@1."
    else:
        text = hit1["text", TAUGHT_SHOTS]
        text_space = f"at {TAUGHT_SHOTS} photos per label {compare('the text space', text, 'the visual space', five)}."
    return [
        table(["photos per label", "visual hit@1", "visual hit@5", "text hit@1", "text hit@5"], rows),
        bullets(f"Target: ≥ {100 * FIVE_SHOT_TARGET:g}% top-1 with {TAUGHT_SHOTS} photos per label: {pct(five)} — "
                f"{verdict(five >= FIVE_SHOT_TARGET)}. The visual space (prototypes of square-rooted, normalised CNN "
                f"features) is the default for `--examples`; {text_space}"),
    ]


def zero_shot_part(ctx: Context) -> list[str]:
    """ConSE, DeViSE and the text->visual map without flower photos, against the doubling target and chance."""
    conse, devise, t2v = ctx.get("eval:flowers-12"), ctx.get("eval:fs-devise"), ctx.get("eval:fs-t2v")
    rows = [[name, *at_k(r, "hit")[:4]] for name, r in
            (("ConSE (text space)", conse), ("DeViSE, trained on the 1,000 ImageNet-sample photos", devise),
             ("text → visual ridge map (visual space)", t2v))]
    best = max(devise["hit"]["@1"], t2v["hit"]["@1"])
    n = len(flower_species(ctx.data))
    return [
        table(["method", *KS[:4]], rows),
        bullets(f"Target: at least {times_text(ZERO_SHOT_FACTOR)} ConSE's top-1 ({pct(conse['hit']['@1'])}): "
                f"best {pct(best)} — {verdict(best >= ZERO_SHOT_FACTOR * conse['hit']['@1'])}. With MiniLM embeddings "
                f"of the species names the best zero-shot top-1 is {chance_text(best, 1 / n)}."
                f"{crowding(ctx, conse.get('confusions') or [])}"),
    ]


def crowding(ctx: Context, confusions: list[dict[str, Any]]) -> str:
    """'' or a sentence on the label(s) that take most of ConSE's listed mistakes, and whether the CNN knows them."""
    answers, listed = dominant_answers(confusions)
    if not answers:
        return ""
    species = flower_species(ctx.data)
    seen = {name for wnid, name in species.items() if wnid in seen_wnids()}
    knows = all(name in seen for name, _ in answers)
    lead = f" ConSE's answers crowd onto the CNN's seen {noun(len(answers), 'class', 'es')}:" if knows else ""
    taken = names_and([f"'{name}'" for name, _ in answers])
    whose = "its" if knows else "ConSE's"
    return (f"{lead} {taken} {'takes' if len(answers) == 1 else 'take'} {sum(c for _, c in answers)} of the "
            f"{listed} photos in {whose} {count_word(len(confusions))} most frequent "
            f"{len(species)}-way confusions.")


def mixed_part(ctx: Context) -> str:
    """Flowers against a half photo-taught index and against the 1K labels plus the photo-taught species."""
    taught, rest = len(species_part(ctx.data, "first")), len(species_part(ctx.data, "second"))
    mixed12, mixed1k = ctx.get("eval:fs-mixed12"), ctx.get("eval:fs-mixed1k-flowers")
    return table(["index", "scored on", "hit@1", "hit@5"], [
        [f"{taught} species photo-taught ({TAUGHT_SHOTS} shots) + {rest} text-only", "flowers test",
         pct(mixed12["hit"]["@1"]), pct(mixed12["hit"]["@5"])],
        [f"1K text labels + {taught + rest} photo-taught species", "flowers test", pct(mixed1k["hit"]["@1"]),
         pct(mixed1k["hit"]["@5"])],
    ], "llrr")


def seen_part(ctx: Context) -> list[str]:
    """The ImageNet sample with the mixed 1K + flowers index against ConSE's 1K labels."""
    conse, mixed = ctx.get(imagenet_key("1k")), ctx.get("eval:fs-mixed1k-imagenet")
    n = len(flower_species(ctx.data))
    rows = [[name, pct(r["hit"]["@1"]), pct(r["hit"]["@5"])] for name, r in
            (("ConSE, text space, 1K labels", conse),
             (f"visual space, 1K labels + {n} photo-taught flowers ({TAUGHT_SHOTS} shots)", mixed))]
    soft5 = (conse.get("cnn_softmax") or {}).get("hit", {}).get("@5")
    if soft5 is not None and close(mixed["hit"]["@5"], soft5):
        top5 = f"so hit@5 follows the CNN's own top-5 ({pct(soft5)})"
    else:
        top5 = f"yet hit@5 ({pct(mixed['hit']['@5'])}) differs from the CNN's own top-5 ({pct(soft5)})"
    seen_ok = within(mixed["hit"]["@1"], conse["hit"]["@1"])
    return [
        table(["index", "hit@1", "hit@5"], rows),
        bullets(f"Target: seen-class accuracy not worse than ConSE's with the 1K labels — {verdict(seen_ok)} "
                f"({tolerance_text()} at hit@1). In the visual space a seen class is its classifier row, {top5}."),
    ]


def section_fewshot(ctx: Context) -> str:
    """Issue 5: photo-taught labels (1/5/20 shots), DeViSE, text->visual, mixed indexes, seen-class accuracy."""
    test_images = ctx.get("eval:flowers-12")["images"]
    train, draws = per_species(ctx.data, "train"), plural(len(ctx.plan.seeds), "seeded draw")
    return "\n\n".join([
        "## Photo-taught labels, DeViSE and the visual space",
        f"Flowers: example photos from `train/` ({train} per species), scored on the {test_images} `test/` photos. "
        f"Photo-taught rows are the mean ± spread of hit@1 over {draws} of the shots "
        "(`build-index --shots N --seed S`). Percent.",
        *shots_part(ctx),
        f"### Zero-shot (no flower photos at all), {len(flower_species(ctx.data))}-way",
        *zero_shot_part(ctx),
        "### Mixed indexes (calibrated: per-label z-scores against the example photos and 1,000 seen-class rows)",
        mixed_part(ctx),
        "### Seen classes: the ImageNet sample",
        *seen_part(ctx),
    ])
