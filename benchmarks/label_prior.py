"""Label-prior (hubness) corrections for label indexes, per kind of label set (issue 17; docs/label_prior.md).

    python benchmarks/label_prior.py [--scratch DIR] [--json out.json]

Builds label sets from ../shared/data (scenes from coco caption votes and ImageNet's place classes, COCO-80
objects, birds50 and flowers12 names, random 10- and 100-class ImageNet draws), each split into TUNE and
REPORT parts, and scores every photo with ConSE queries against the labels, plain and with each per-label
affine correction of zsclf.learn.label_prior (fitted on the shipped photo prior or on reference photos).
Prints markdown tables (hit@1, balanced accuracy, skew) and the build-time statistics of the default rule.
CNN logits and text embeddings are cached under --scratch (never in the repository). Deterministic.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
from collections import Counter
from pathlib import Path

import numpy as np

from zsclf.core.vectors import normalize
from zsclf.data.labels import imagenet1k
from zsclf.learn.features import encode_images
from zsclf.learn.label_prior import LABEL_PRIOR_QUERIES, default_correction, label_prior_rows, label_statistics
from zsclf.learn.photo_prior import logit_queries, prior_logits, weights_sha256
from zsclf.models.image_encoder import ImageEncoder
from zsclf.models.text_encoder import TextEncoder
from zsclf.pipeline.projection import ConSE
from zsclf.pipeline.seen import cached_seen_embeddings

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("ZSCLF_SHARED_DATA", ROOT.parent / "shared" / "data"))
ENSEMBLE = ("{}", "a photo of a {}", "a photo of the {}", "a picture of a {}", "an image of a {}")
TEMPLATES = {"name": ("{}",), "photo": ("a photo of a {}",), "ensemble": ENSEMBLE}
# the held-out scene labels of the issue; a coco photo is one of them when >= 3 of its 5 captions say so
SCENE_WORDS = {
    "beach": r"\b(beach|shore|sand)\b", "snow": r"\b(snow|snowy|ski|skiing|skier|skis|snowboard\w*)\b",
    "city street": r"\b(street|city|intersection|downtown|traffic)\b",
    "grass field": r"\b(field|grass|grassy|pasture|meadow)\b", "swimming pool": r"\bpool\b",
    "mountain": r"\b(mountain|mountains|hill|hills)\b", "forest": r"\b(forest|woods|wooded|jungle)\b",
    "indoor room": r"\b(kitchen|living room|bedroom|bathroom|room|office|restaurant|indoors?)\b",
}
# label lists without photos here, for the rule's statistics: Oxford-IIIT pet breeds, the issue's own list
NAMES_ONLY = {
    "pets37": "Abyssinian,Bengal,Birman,Bombay,British Shorthair,Egyptian Mau,Maine Coon,Persian,Ragdoll,Russian Blue,"
              "Siamese,Sphynx,american bulldog,american pit bull terrier,basset hound,beagle,boxer,chihuahua,"
              "english cocker spaniel,english setter,german shorthaired,great pyrenees,havanese,japanese chin,keeshond,"
              "leonberger,miniature pinscher,newfoundland,pomeranian,pug,saint bernard,samoyed,scottish terrier,"
              "shiba inu,staffordshire bull terrier,wheaten terrier,yorkshire terrier",
    "issue5": "beach,mountain,city street,indoor room,forest",
}
# imagenet-sample photos of ImageNet classes that are Oxford-IIIT pet breeds, against all 37 pet names
PETS_IN_IMAGENET = {
    "Chihuahua": "chihuahua", "Japanese spaniel": "japanese chin", "basset": "basset hound", "beagle": "beagle",
    "Staffordshire bullterrier": "staffordshire bull terrier", "American Staffordshire terrier":
    "american pit bull terrier", "Yorkshire terrier": "yorkshire terrier", "Scotch terrier": "scottish terrier",
    "soft-coated wheaten terrier": "wheaten terrier", "German short-haired pointer": "german shorthaired",
    "English setter": "english setter", "cocker spaniel": "english cocker spaniel",
    "miniature pinscher": "miniature pinscher", "boxer": "boxer", "Saint Bernard": "saint bernard", "pug": "pug",
    "Leonberg": "leonberger", "Newfoundland": "newfoundland", "Great Pyrenees": "great pyrenees",
    "Samoyed": "samoyed", "Pomeranian": "pomeranian", "keeshond": "keeshond", "Persian cat": "Persian",
    "Siamese cat": "Siamese", "Egyptian cat": "Egyptian Mau",
}
INET_SCENES = ["seashore", "alp", "valley", "lakeside", "cliff", "volcano", "promontory", "sandbar", "coral reef",
               "geyser", "boathouse", "library", "restaurant", "church", "barn", "bakery", "shoe shop",
               "grocery store", "dock", "patio"]
COCO80 = ("person,bicycle,car,motorcycle,airplane,bus,train,truck,boat,traffic light,fire hydrant,stop sign,"
          "parking meter,bench,bird,cat,dog,horse,sheep,cow,elephant,bear,zebra,giraffe,backpack,umbrella,handbag,"
          "tie,suitcase,frisbee,skis,snowboard,sports ball,kite,baseball bat,baseball glove,skateboard,surfboard,"
          "tennis racket,bottle,wine glass,cup,fork,knife,spoon,bowl,banana,apple,sandwich,orange,broccoli,carrot,"
          "hot dog,pizza,donut,cake,chair,couch,potted plant,bed,dining table,toilet,tv,laptop,mouse,remote,"
          "keyboard,cell phone,microwave,oven,toaster,sink,refrigerator,book,clock,vase,scissors,teddy bear,"
          "hair drier,toothbrush")
QUERY_VARIANTS = [(10, 1.0), (50, 1.0), (10, 2.0), (50, 2.0)]
METHODS = [("none", {}), ("inverted_softmax", {"beta": 10.0}), ("inverted_softmax", {"beta": 20.0}),
           ("inverted_softmax", {"beta": 50.0}), ("zscore", {}), ("mean", {}), ("csls", {"k": 10}),
           ("csls", {"k": 50}), ("label_softmax", {"tau": 0.02}), ("label_softmax", {"tau": 0.05})]


class Cache:
    """CNN logits and text embeddings kept in a scratch folder, keyed by what made them."""

    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch
        scratch.mkdir(parents=True, exist_ok=True)
        self.image: ImageEncoder | None = None
        self.text = TextEncoder.load()
        self.texts: dict[str, np.ndarray] = {}

    def logits(self, name: str, paths: list[str]) -> np.ndarray:
        file = self.scratch / f"logits-{name}.npz"
        if file.exists():
            data = np.load(file)
            if list(data["paths"]) == paths:
                return data["logits"]
        self.image = self.image or ImageEncoder.load()
        encoded = encode_images(self.image, paths, cache=False)
        if encoded.errors:
            raise SystemExit(f"unreadable photos: {list(encoded.errors.values())[:3]}")
        np.savez(file, paths=np.array(paths), logits=encoded.logits)
        return encoded.logits

    def embed(self, names: list[str], template: str) -> np.ndarray:
        """Normalised mean over the template's prompts of each name's embedding."""
        key = f"{template}|" + "\0".join(names)
        if key not in self.texts:
            out = sum(normalize(self.text.embed([t.format(n) for n in names])) for t in TEMPLATES[template])
            self.texts[key] = normalize(np.asarray(out, np.float32))
        return self.texts[key]

    def seen(self, template: str) -> np.ndarray:
        """The ImageNet-1K classes embedded with a template of TEMPLATES, or "gloss" (name: description)."""
        if template == "gloss":
            texts = imagenet1k().texts("gloss")
            return cached_seen_embeddings(self.text.sha256, "gloss", texts, self.text.embed, cache=self.scratch)
        names = imagenet1k().names
        return cached_seen_embeddings(self.text.sha256, f"bench-{template}", names,
                                      lambda batch: self.embed(batch, template), cache=self.scratch)


def read_tsv(path: Path) -> list[list[str]]:
    with open(path, newline="") as fh:
        return [row for row in csv.reader(fh, delimiter="\t") if row]


def coco_photos(cache: Cache) -> tuple[dict[str, list[str]], dict[str, np.ndarray], dict[str, str]]:
    """Captions and logits of the coco photos, and each photo's half (a seeded permutation: tune/report)."""
    coco = SHARED / "coco-captions"
    captions: dict[str, list[str]] = {}
    for path, _, text in read_tsv(coco / "pairs.tsv")[1:]:
        captions.setdefault(path, []).append(text.lower())
    photos = sorted(captions)
    perm = np.random.default_rng(17).permutation(len(photos))
    half = {photos[i]: ("tune" if rank % 2 == 0 else "report") for rank, i in enumerate(perm)}
    coco_logits = dict(zip(photos, cache.logits("coco", [str(coco / p) for p in photos]), strict=True))
    return captions, coco_logits, half


def coco_scenes(cache: Cache) -> dict:
    """The issue's eight scene labels; a coco photo is the scene a clear majority (>= 3) of its captions name."""
    captions, coco_logits, half = coco_photos(cache)
    scenes = list(SCENE_WORDS)
    scene_of = {}
    for p, caps in captions.items():
        votes = Counter(s for s, rx in SCENE_WORDS.items() for c in caps if re.search(rx, c))
        top = votes.most_common(2)
        if top and top[0][1] >= 3 and (len(top) == 1 or top[1][1] < top[0][1]):
            scene_of[p] = scenes.index(top[0][0])
    return _split("scenes-coco", "scenes-coco", scenes, scene_of, coco_logits, half)


def label_sets(cache: Cache) -> list[dict]:
    """Every set as {name, kind, labels, part -> (logits, true label rows)}."""
    sets = [coco_scenes(cache)]
    captions, coco_logits, half = coco_photos(cache)

    coco80 = COCO80.split(",")
    object_of = {}
    for p, cats in read_tsv(SHARED / "coco-captions" / "objects.tsv")[1:]:
        cs = [c for c in cats.split(",") if c]
        named = [(sum(c in cap for cap in captions[p]), -(c == "person"), c) for c in cs]
        best = max(named) if named else None
        if best and best[0] >= 1:
            object_of[p] = coco80.index(best[2])
    sets.append(_split("objects-coco", "objects-coco", coco80, object_of, coco_logits, half))

    inet = read_tsv(SHARED / "imagenet-sample" / "labels.tsv")[1:]
    inet_paths = [str(SHARED / "imagenet-sample" / r[0]) for r in inet]
    inet_logits = cache.logits("imagenet", inet_paths)
    names = [r[3] for r in inet]
    rows = [names.index(s) for s in INET_SCENES]
    sets.append({"name": "scenes-inet", "kind": "scenes-inet", "labels": INET_SCENES,
                 "tune": (inet_logits[rows[0::2]], np.arange(0, len(rows), 2)),
                 "report": (inet_logits[rows[1::2]], np.arange(1, len(rows), 2))})

    pets = NAMES_ONLY["pets37"].split(",")
    chosen = [i for i, n in enumerate(names) if n in PETS_IN_IMAGENET]
    truth = np.array([pets.index(PETS_IN_IMAGENET[names[i]]) for i in chosen])
    sets.append({"name": "pets-inet", "kind": "pets-inet", "labels": pets,
                 "tune": (inet_logits[chosen[0::2]], truth[0::2]), "report": (inet_logits[chosen[1::2]], truth[1::2])})
    for folder in ("birds50", "flowers12"):
        table = read_tsv(SHARED / folder / "labels.tsv")
        table = table[1:] if table[0][0] == "path" else table
        labels = sorted({r[1] for r in table})
        logits = cache.logits(folder, [str(SHARED / folder / r[0]) for r in table])
        truth = np.array([labels.index(r[1]) for r in table])
        train = np.array([r[0].startswith("train/") for r in table])
        sets.append({"name": folder, "kind": folder, "labels": labels, "tune": (logits[train], truth[train]),
                     "report": (logits[~train], truth[~train]), "train_logits": logits[train],
                     "report_paths": [str(SHARED / folder / r[0]) for r, t in zip(table, train, strict=True) if not t]})

    for size in (10, 100):
        for seed in range(10):
            chosen = np.sort(np.random.default_rng(seed).choice(len(names), size, replace=False))
            part = "tune" if seed < 5 else "report"
            sets.append({"name": f"inet{size}-s{seed}", "kind": f"inet{size}", "labels": [names[i] for i in chosen],
                         part: (inet_logits[chosen], np.arange(size))})
    return sets


def _split(name: str, kind: str, labels: list[str], truth: dict[str, int], logits: dict[str, np.ndarray],
           half: dict[str, str]) -> dict:
    out = {"name": name, "kind": kind, "labels": labels}
    for part in ("tune", "report"):
        ps = sorted(p for p in truth if half[p] == part)
        out[part] = (np.stack([logits[p] for p in ps]), np.array([truth[p] for p in ps]))
        out[f"{part}_paths"] = [str(SHARED / "coco-captions" / p) for p in ps]
    return out


def metrics(scores: np.ndarray, truth: np.ndarray, n_labels: int) -> dict:
    pred = scores.argmax(axis=1)
    present = np.unique(truth)
    true_share = np.bincount(truth, minlength=n_labels) / len(truth)
    pred_share = np.bincount(pred, minlength=n_labels) / len(truth)
    return {"hit1": float((pred == truth).mean()),
            "bal": float(np.mean([(pred[truth == c] == c).mean() for c in present])),
            "skew": float((pred_share[present] / true_share[present]).max()),
            "absent": float(pred_share[true_share == 0].sum())}


def evaluate(cache: Cache, sets: list[dict], prior: np.ndarray, template: str, top_t: int, temperature: float,
             methods: list[tuple[str, dict]], reference: str = "prior", seen: str | None = None) -> dict:
    """{(kind, part, method label): [metrics per set]}; the rule's statistics and pick are kept in each set.
    `seen`: the template of ConSE's seen classes (default: the labels' own)."""
    conse = ConSE(cache.seen(seen or template), top_t, temperature)
    prior_q = logit_queries(conse, prior)
    out: dict = {}
    for s in sets:
        v = cache.embed(s["labels"], template)
        ref_q = logit_queries(conse, s["train_logits"]) if reference == "own" else prior_q
        rule, _ = default_correction(v, ref_q)
        for method, params in methods + [("rule", {})]:
            m = rule if method == "rule" else method
            rows = (np.hstack([v, np.zeros((len(v), 1), np.float32)]) if m in (None, "none")
                    else label_prior_rows(v, ref_q, m, **(params if method != "rule" else {}))[0])
            label = method + "".join(f" {k}={x:g}" for k, x in params.items())
            for part in ("tune", "report"):
                if part in s:
                    q = logit_queries(conse, s[part][0])
                    scores = np.hstack([q, np.ones((len(q), 1), np.float32)]) @ rows.T
                    out.setdefault((s["kind"], part, label), []).append(metrics(scores, s[part][1], len(v)))
    return out


def table(results: dict, title: str, part: str, kinds: list[str]) -> str:
    labels = list(dict.fromkeys(k[2] for k in results))
    head = "| method | " + " | ".join(f"{k} hit1/bal/skew" for k in kinds) + " |"
    lines = [f"\n### {title} ({part.upper()})\n", head, "|---|" + "---|" * len(kinds)]
    for label in labels:
        cells = []
        for kind in kinds:
            ms = results.get((kind, part, label))
            cells.append("-" if not ms else "{:.3f}/{:.3f}/{:.1f}".format(*(np.mean([m[x] for m in ms])
                                                                             for x in ("hit1", "bal", "skew"))))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def shipped_prior() -> np.ndarray:
    """The shipped photo prior's logits for the default image model."""
    from zsclf.models.registry import model_spec

    return prior_logits(weights_sha256(model_spec(None, "image")))


def summary(runs: dict[str, dict], kinds: list[str]) -> str:
    """Gains over the plain index (template name, top-10, T=1, no correction): mean balanced-accuracy gain over the
    scene/object/ImageNet kinds, hit@1 change on the fine-grained ones; the pick = the best TUNE mean gain among
    rows that keep both fine-grained sets within 0.01 hit@1 of plain on TUNE."""
    fine = ["birds50", "flowers12", "pets-inet"]
    broad = [k for k in kinds if k not in fine]

    def mean(res: dict, kind: str, part: str, label: str, key: str) -> float:
        return float(np.mean([m[key] for m in res[(kind, part, label)]]))

    plain = runs["name top10 T1"]
    rows = []
    for config, res in runs.items():
        for label in dict.fromkeys(k[2] for k in res):
            cells = []
            for part in ("tune", "report"):
                cells.append(np.mean([mean(res, k, part, label, "bal") - mean(plain, k, part, "none", "bal")
                                      for k in broad]))
                cells += [mean(res, k, part, label, "hit1") - mean(plain, k, part, "none", "hit1") for k in fine]
            rows.append((f"{config}, {label}", cells))
    allowed = [r for r in rows if min(r[1][1:4]) >= -0.01]
    best = max(r[1][0] for r in allowed)
    pick = next(r for r in allowed if r[1][0] >= best - 0.005)[0]  # the first (simplest) within 0.005 of the best
    title = f"Gains over plain (TUNE | REPORT): mean Δbal over {', '.join(broad)}; Δhit@1 {', '.join(fine)}"
    lines = [f"\n### {title}\n",
             "| config, method | TUNE Δbal | " + " | ".join(f"TUNE Δ{k}" for k in fine) + " | REPORT Δbal | "
             + " | ".join(f"REPORT Δ{k}" for k in fine) + " |", "|---|" + "---|" * (2 + 2 * len(fine))]
    for name, cells in rows:
        mark = " **(pick)**" if name == pick else ""
        lines.append(f"| {name}{mark} | " + " | ".join(f"{c:+.3f}" for c in cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scratch", type=Path, default=ROOT / "models" / "cache" / "label-prior-bench",
                        help="where CNN logits and text embeddings are cached (default: models/cache, git-ignored)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    cache = Cache(args.scratch)
    sets = label_sets(cache)
    prior = shipped_prior()
    kinds = ["scenes-coco", "scenes-inet", "objects-coco", "birds50", "flowers12", "pets-inet", "inet10", "inet100"]
    base = evaluate(cache, sets, prior, "name", 10, 1.0, METHODS)
    for part in ("tune", "report"):
        print(table(base, "methods; template name, ConSE top-10 T=1, prior reference", part, kinds))
    runs = {"name top10 T1": base}
    short = [("none", {}), ("zscore", {}), ("label_softmax", {"tau": 0.05}), ("inverted_softmax", {"beta": 20.0})]
    for template in TEMPLATES:
        for top_t, temperature in QUERY_VARIANTS:
            if (template, top_t, temperature) == ("name", 10, 1.0):
                continue
            res = evaluate(cache, sets, prior, template, top_t, temperature, short)
            runs[f"{template} top{top_t} T{temperature:g}"] = res
            for part in ("tune", "report"):
                print(table(res, f"template {template}, ConSE top-{top_t} T={temperature:g}", part, kinds))
    print(summary(runs, kinds))
    chosen = (LABEL_PRIOR_QUERIES.top_t, LABEL_PRIOR_QUERIES.temperature)
    mismatch = evaluate(cache, sets, prior, "name", *chosen, [("inverted_softmax", {"beta": 20.0})], seen="gloss")
    picked = runs[f"name top{chosen[0]} T{chosen[1]:g}"]
    final = {(k, part, "plain (today)"): base[(k, part, "none")] for k in kinds for part in ("tune", "report")}
    final.update({(k, part, "default rule"): picked[(k, part, "rule")] for k in kinds for part in ("tune", "report")})
    final.update({(k, part, "β=20, seen classes by gloss"): mismatch[(k, part, "inverted_softmax beta=20")]
                  for k in kinds for part in ("tune", "report")})
    for part in ("tune", "report"):
        print(table(final, f"chosen: ConSE top-{chosen[0]} T={chosen[1]:g} (labels' template) + default rule", part,
                    kinds))
    conse = ConSE(cache.seen("name"), *chosen)
    prior_q = logit_queries(conse, prior)
    named = [{"name": k, "labels": v.split(",")} for k, v in NAMES_ONLY.items()]
    print("\n| set | labels | mean pairwise cos | prior skew | dominance | rule |\n|---|---|---|---|---|---|")
    for s in sets + named:
        v = cache.embed(s["labels"], "name")
        stats = label_statistics(v, prior_q)
        print(f"| {s['name']} | {len(s['labels'])} | {stats['mean_cos']:.3f} | {stats['prior_skew']:.2f} | "
              f"{stats['dominance']:.2f} | {default_correction(v, prior_q)[0] or 'plain'} |")
    own_sets = [s for s in sets if "train_logits" in s]
    own = evaluate(cache, own_sets, prior, "name", *chosen, short, reference="own")
    print(table(own, f"reference photos = the set's own train/ photos, top-{chosen[0]} T={chosen[1]:g} (test/)",
                "report", ["birds50", "flowers12"]))
    if args.json:
        flat = {c: {" | ".join(k): v for k, v in r.items()} for c, r in runs.items()}
        args.json.write_text(json.dumps(flat, indent=1))


if __name__ == "__main__":
    main()
