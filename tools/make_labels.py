#!/usr/bin/env python3
"""Generate the label tables in labels/ from timm's ImageNet metadata and WordNet 3.0.

Standard library only. Usage (from the repository root):

    python tools/make_labels.py [--timm-info DIR] [--wordnet DIR] [--out DIR]
"""
from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path
from typing import NamedTuple

LEXFILES = ("Tops act animal artifact attribute body cognition communication event feeling "
            "food group location motive object person phenomenon plant possession process "
            "quantity relation shape state substance time").split()  # noun lexfiles 03..28
EXAMPLES = ("n02012849", "n03126707", "n02963159", "n02113186", "n07716906", "n12160303",
            "n01872401")


class Synset(NamedTuple):
    """One WordNet noun synset."""
    lemmas: list[str]     # with underscores replaced by spaces
    parents: list[str]    # WNIDs of @ and @i noun pointers, in file order
    holonyms: list[str]   # WNIDs of #m, #p, #s noun pointers (member/part/substance of)
    lexfile: str          # lexicographer file category, e.g. "animal", "food"
    gloss: str


def check(ok: bool, msg: str) -> None:
    """Abort with a message when a sanity check fails (unlike assert, survives -O)."""
    if not ok:
        sys.exit(f"make_labels: check failed: {msg}")


def find_timm_info() -> Path | None:
    """Return the first ``timm/data/_info`` directory found on sys.path."""
    for entry in sys.path:
        cand = Path(entry or ".") / "timm" / "data" / "_info"
        if cand.is_dir():
            return cand
    return None


def clean(text: str) -> str:
    """Make a string safe for a TSV field (no tabs or newlines)."""
    return " ".join(text.replace("\t", " ").replace("\r", " ").replace("\n", " ").split())


def read_map(path: Path) -> dict[str, str]:
    """Read a ``wnid<TAB>text`` file into a dict, rejecting duplicate keys."""
    out: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            key, value = line.split("\t", 1)
            check(key not in out, f"duplicate {key} in {path.name}")
            out[key] = value.strip()
    return out


def parse_data_noun(path: Path) -> tuple[dict[str, Synset], list[str]]:
    """Parse WordNet's data.noun; return {wnid: Synset} and the licence header lines."""
    synsets: dict[str, Synset] = {}
    licence: list[str] = []
    pos = 0
    for raw in path.read_bytes().splitlines(keepends=True):
        line, start = raw.decode("utf-8").rstrip("\r\n"), pos
        pos += len(raw)
        if line.startswith("  "):  # licence header: "  N text"
            licence.append(line[2:].split(" ", 1)[1].rstrip() if " " in line[2:] else "")
            continue
        data, _, gloss = line.partition("|")
        f = data.split()
        check(int(f[0]) == start and f[2] == "n", f"bad synset line at byte {start}")
        w_cnt = int(f[3], 16)
        lemmas = [f[4 + 2 * i].replace("_", " ") for i in range(w_cnt)]
        i = 4 + 2 * w_cnt
        p_cnt = int(f[i])
        parents: list[str] = []
        holonyms: list[str] = []
        for j in range(p_cnt):
            sym, off, ppos = f[i + 1 + 4 * j: i + 4 + 4 * j]
            dest = parents if sym in ("@", "@i") else holonyms if sym in ("#m", "#p", "#s") else None
            if dest is not None and ppos == "n" and "n" + off not in dest:
                dest.append("n" + off)
        synsets["n" + f[0]] = Synset(lemmas, parents, holonyms,
                                     LEXFILES[int(f[1]) - 3], gloss.strip())
    return synsets, licence


def timm_version(info_dir: Path) -> str:
    """Read timm's version from timm/version.py without importing timm."""
    text = (info_dir.parent.parent / "version.py").read_text(encoding="utf-8")
    m = re.search(r"__version__\s*=\s*['\"]([^'\"]+)", text)
    return m.group(1) if m else "unknown"


def qualifiers(wnid: str, lemmas: list[str], wn: dict[str, Synset]) -> list[str]:
    """Ordered qualifiers: hypernym, 2nd lemma, other hypernyms, holonyms,
    grand-hypernym, lexfile, WNID (each a first lemma unless noted)."""
    syn = wn.get(wnid)
    if syn is None:
        return lemmas[1:2] + [wnid]

    def first(ids: list[str]) -> list[str]:
        return [wn[p].lemmas[0] for p in ids if p in wn]

    hyper = wn.get(syn.parents[0]) if syn.parents else None
    cands = (first(syn.parents[:1]) + lemmas[1:2] + first(syn.parents[1:])
             + first(syn.holonyms) + first(hyper.parents[:1] if hyper else []) + [syn.lexfile])
    out: list[str] = []
    for c in cands:
        if c.casefold() != lemmas[0].casefold() and c not in out:
            out.append(c)
    return out + [wnid]


def display_names(wnids: list[str], lemmas: dict[str, list[str]],
                  wn: dict[str, Synset], taken: set[str] | frozenset[str] = frozenset()) -> dict[str, str]:
    """Unique (case-insensitively) display names; colliding names get ``name (X)``. ``taken``: casefolded
    names already given to other synsets (a name equal to one of them counts as a clash)."""
    quals = {w: qualifiers(w, lemmas[w], wn) for w in wnids}
    level = {w: -1 for w in wnids}  # -1 = bare first lemma

    def name(w: str) -> str:
        base = lemmas[w][0]
        return base if level[w] < 0 else f"{base} ({quals[w][level[w]]})"

    while True:
        counts = Counter(name(w).casefold() for w in wnids)
        counts.update({t: 2 for t in taken if t in counts})
        clash = [w for w in wnids if counts[name(w).casefold()] > 1]
        if not clash:
            return {w: name(w) for w in wnids}
        bumpable = [w for w in clash if level[w] < len(quals[w]) - 1]
        check(bool(bumpable), f"cannot disambiguate {clash[:5]}")
        for w in bumpable:
            level[w] += 1


def write_tsv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    """Write a UTF-8, LF-terminated TSV file with a header row."""
    lines = ["\t".join(header)] + ["\t".join(clean(c) for c in r) for r in rows]
    path.write_bytes(("\n".join(lines) + "\n").encode("utf-8"))


README = """# Class label tables

Generated by `python tools/make_labels.py` (standard library only; deterministic; run it
with the project's Python, where timm is installed, or pass `--timm-info DIR`; WordNet is
read from `--wordnet /usr/share/wordnet`). Do not edit by hand: change the script and re-run.

All files are UTF-8, LF line endings, tab-separated, with a header row.

* `imagenet1k.tsv` ({n1k} rows): `index wnid name lemmas gloss` - ImageNet-1K classes in
  logit order (sorted WNIDs, the order of timm's `imagenet_synsets.txt`).
* `imagenet21k.tsv` ({n21k} rows): `wnid name lemmas gloss` - ImageNet-21K (fall 2011)
  classes in logit order (the order of timm's `imagenet22k_synsets.txt`).
* `wordnet_hypernyms.tsv` ({nwn} rows): `wnid parents` - every WordNet 3.0 noun synset, sorted;
  `parents` = space-separated WNIDs of its hypernyms (`@`) and instance hypernyms (`@i`), in
  WordNet's order; empty only for the root `entity` (n00001740).
* `wordnet_names.tsv` ({nwn} rows): `wnid name` - a display name for every WordNet 3.0 noun
  synset, sorted (hedged answers name ancestors that are no index label, e.g. `vascular plant`,
  `entity`): the 1K/21K synsets keep their names from the files above; the other {nrest} get
  names by the same rules, unique (case-insensitively) across all {nwn} ({ndisrest} disambiguated).

`lemmas` are joined by `, `; `gloss` is the definition. A WNID is `n` + the 8-digit
byte offset of the synset in WordNet 3.0 `data.noun`.

## Sources

* timm {timm} wheel, `timm/data/_info/`: `imagenet_synsets.txt` (1K order),
  `imagenet22k_synsets.txt` (21K order), `imagenet_synset_to_lemma.txt` (lemmas),
  `imagenet_synset_to_definition.txt` (glosses).
* WordNet 3.0 `data.noun` from Debian's `wordnet-base` package: hypernyms, display-name
  qualifiers and the cross-check below.

## Display names (`name`)

`name` is the first lemma. Names are unique within each file, compared case-insensitively
(so `Cardigan` the dog and `cardigan` the sweater also count as a clash). Every synset whose
name clashes becomes `name (X)`, where X is tried in this order until it is unique: the first
lemma of its first WordNet hypernym, its own second lemma, its other hypernyms, its
holonyms (what it is a member/part/substance of, e.g. a genus), the first lemma of its
hypernym's first hypernym, its WordNet lexicographer category (e.g. `food`, `plant`), and
finally its WNID. Qualifiers equal to the name itself are skipped.

Names are computed once over the 21K classes plus the 1K classes missing from them, so the
same WNID has the same name in both files. {ndis21k} of the 21K names and {ndis1k} of the 1K
names are disambiguated (within the 1K set alone only {clash1k} first lemmas clash; the other
1K qualifiers come from 21K namesakes). The WNID fallback was needed for {nwnid} 21K names
({nwnid1k} in 1K), where WordNet has near-identical synsets, e.g. `bobsled (n02860847)` and
`bobsled (n02861022)`. Examples:

{examples}

## Checks (enforced or reported by the script)

* `imagenet_synsets.txt`: {n1k} unique WNIDs, sorted.
* `imagenet22k_synsets.txt`: exactly {n21k} unique WNIDs.
* 1K WNIDs missing from the 21K list: {extra1k}{extra}
* `data.noun`: {nwn} noun synsets; every offset equals its byte position.
* 1K/21K WNIDs missing from WordNet 3.0: {nmiss}{miss}
* 1K/21K WNIDs whose timm lemmas differ from WordNet 3.0 (same order and case): {ndiff}{diff}
* Display names are unique (case-insensitively) in both files.

## WordNet licence

```
{licence}
```
"""


def main() -> None:
    """Parse arguments, build the tables, write them and print a summary."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--timm-info", type=Path, default=find_timm_info(),
                    help="timm/data/_info directory (default: found on sys.path)")
    ap.add_argument("--wordnet", type=Path, default=Path("/usr/share/wordnet"),
                    help="WordNet 3.0 dict directory containing data.noun")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "labels",
                    help="output directory (default: labels/ in the repository)")
    args = ap.parse_args()
    if args.timm_info is None:
        ap.error("timm/data/_info not found on sys.path; pass --timm-info")
    info: Path = args.timm_info

    ids1k = (info / "imagenet_synsets.txt").read_text(encoding="utf-8").split()
    ids21k = (info / "imagenet22k_synsets.txt").read_text(encoding="utf-8").split()
    check(len(ids1k) == 1000 and len(set(ids1k)) == 1000, "1K list: 1000 unique WNIDs")
    check(ids1k == sorted(ids1k), "1K list is sorted")
    check(len(ids21k) == 21841 and len(set(ids21k)) == 21841, "21K list: 21841 unique WNIDs")
    lemma_txt, gloss_txt = (read_map(info / f"imagenet_synset_to_{k}.txt")
                            for k in ("lemma", "definition"))
    lemmas = {w: [clean(s) for s in t.split(",") if s.strip()] for w, t in lemma_txt.items()}
    set21k = set(ids21k)
    extra1k = [w for w in ids1k if w not in set21k]
    check(all(w in lemmas and w in gloss_txt for w in ids21k + extra1k), "lemma/gloss for all")

    wn, licence = parse_data_noun(args.wordnet / "data.noun")
    check(len(wn) == 82115, f"82115 noun synsets in data.noun (got {len(wn)})")
    check(wn["n00001740"].lemmas == ["entity"] and not wn["n00001740"].parents, "root entity")
    check(all(p in wn for s in wn.values() for p in s.parents), "hypernyms are synsets")
    missing = [w for w in ids21k + extra1k if w not in wn]  # cross-check against WordNet
    differ = [w for w in ids21k + extra1k if w in wn and wn[w].lemmas != lemmas[w]]

    names = display_names(ids21k + extra1k, lemmas, wn)
    for ids in (ids1k, ids21k):
        check(len({names[w].casefold() for w in ids}) == len(ids), "unique names")

    def row(w: str) -> list[str]:
        return [w, names[w], ", ".join(lemmas[w]), gloss_txt[w]]

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    write_tsv(out / "imagenet1k.tsv", ["index", "wnid", "name", "lemmas", "gloss"],
              [[str(i)] + row(w) for i, w in enumerate(ids1k)])
    write_tsv(out / "imagenet21k.tsv", ["wnid", "name", "lemmas", "gloss"],
              [row(w) for w in ids21k])
    write_tsv(out / "wordnet_hypernyms.tsv", ["wnid", "parents"],
              [[w, " ".join(wn[w].parents)] for w in sorted(wn)])
    rest = [w for w in sorted(wn) if w not in names]
    rest_names = display_names(rest, {w: wn[w].lemmas for w in rest}, wn, {n.casefold() for n in names.values()})
    all_names = {**names, **rest_names}
    check(len({n.casefold() for n in all_names.values()}) == len(wn), "unique WordNet names")
    write_tsv(out / "wordnet_names.tsv", ["wnid", "name"], [[w, all_names[w]] for w in sorted(wn)])

    dis21k = sum(names[w] != lemmas[w][0] for w in ids21k)
    dis1k = sum(names[w] != lemmas[w][0] for w in ids1k)
    wnid_fb = [w for w in ids21k + extra1k if names[w].endswith(f"({w})")]
    clash1k = Counter(lemmas[w][0].casefold() for w in ids1k)

    def fmt(ws: list[str]) -> str:
        return "".join(f"\n  * {w} ({', '.join(lemmas[w])})" for w in ws)

    (out / "README.md").write_bytes(README.format(
        n1k=len(ids1k), n21k=len(ids21k), nwn=len(wn), timm=timm_version(info),
        ndis21k=dis21k, ndis1k=dis1k, clash1k=sum(c > 1 for c in clash1k.values()),
        nwnid=sum(w in set21k for w in wnid_fb), nwnid1k=len(set(wnid_fb) & set(ids1k)),
        examples="\n".join(f"* `{w}` {', '.join(lemmas[w])} -> `{names[w]}`" for w in EXAMPLES),
        extra1k=len(extra1k), extra=fmt(extra1k), nmiss=len(missing), miss=fmt(missing),
        ndiff=len(differ), diff=fmt(differ), licence="\n".join(licence).strip("\n"), nrest=len(rest),
        ndisrest=sum(rest_names[w] != wn[w].lemmas[0] for w in rest)
    ).encode("utf-8"))

    print(f"imagenet1k.tsv: {len(ids1k)} rows, {dis1k} disambiguated names")
    print(f"imagenet21k.tsv: {len(ids21k)} rows, {dis21k} disambiguated names")
    print(f"wordnet_hypernyms.tsv: {len(wn)} rows")
    print(f"wordnet_names.tsv: {len(wn)} rows, {len(rest)} named here")
    print(f"1K not in 21K: {extra1k}; not in WordNet: {len(missing)}; lemmas differ: {len(differ)}")


if __name__ == "__main__":
    main()
