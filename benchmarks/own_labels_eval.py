#!/usr/bin/env python3
"""Your own labels end to end: `zsclf eval --labels` with `--label-prior off` and `auto`, per kind of label set.

    .venv/bin/python benchmarks/own_labels_eval.py [--json]

The sets are the REPORT parts of benchmarks/label_prior.py (scenes and objects from coco-captions, birds50 and
flowers12 test photos): each is written as a manifest (path, label) and a label file, then scored by the real
command line, as a user would. Prints a table, or with --json the numbers (docs/results.md "Your own labels").
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from label_prior import ROOT, Cache, label_sets

KINDS = {"scenes-coco": "scenes (8 scene words, coco photos by caption votes)",
         "objects-coco": "objects (COCO-80 names, coco photos)", "birds50": "fine-grained: 50 bird species",
         "flowers12": "fine-grained: 12 flower species"}


def cli_eval(manifest: Path, labels: Path, prior: str) -> dict:
    """The `zsclf eval --json` report of one run."""
    proc = subprocess.run([sys.executable, "-m", "zsclf.cli", "eval", str(manifest), "--labels", str(labels),
                           "--label-prior", prior, "--json", "-q"], capture_output=True, text=True, check=True)
    return json.loads(proc.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="print the numbers as JSON")
    parser.add_argument("--scratch", type=Path, default=ROOT / "models" / "cache" / "label-prior-bench")
    args = parser.parse_args()
    sets = {s["name"]: s for s in label_sets(Cache(args.scratch)) if s["name"] in KINDS}
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, about in KINDS.items():
            s = sets[name]
            manifest, labels = Path(tmp) / f"{name}.tsv", Path(tmp) / f"{name}.txt"
            truth = s["report"][1]
            manifest.write_text("path\tlabel\n" + "".join(f"{p}\t{s['labels'][t]}\n"
                                                          for p, t in zip(s["report_paths"], truth, strict=True)))
            labels.write_text("".join(f"{label}\n" for label in s["labels"]))
            runs = {prior: cli_eval(manifest, labels, prior) for prior in ("off", "auto")}
            out[name] = {"about": about, "labels": len(s["labels"]), "photos": len(truth),
                         **{prior: {"hit@1": r["hit"]["@1"], "hit@5": r["hit"].get("@5"),
                                    "balanced": r["mean_per_class_accuracy"], "skew": r["skew"]["ratio"],
                                    "most_answered": r["skew"]["most_answered"],
                                    "most_answered_share": r["skew"]["most_answered_share"]}
                            for prior, r in runs.items()}}
    if args.json:
        print(json.dumps({"sets": out}, indent=1))
        return
    print("| set | labels | photos | plain hit@1 / balanced / skew | auto hit@1 / balanced / skew |")
    print("|---|---|---|---|---|")
    for r in out.values():
        cells = [f"{r[p]['hit@1']:.3f} / {r[p]['balanced']:.3f} / {r[p]['skew']:.1f}" for p in ("off", "auto")]
        print(f"| {r['about']} | {r['labels']} | {r['photos']} | {cells[0]} | {cells[1]} |")


if __name__ == "__main__":
    main()
