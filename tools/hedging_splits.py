#!/usr/bin/env python3
"""Write the hedging fit / held-out manifests (see report/splits.py) into a folder.

    .venv/bin/python tools/hedging_splits.py ../shared/data /tmp/splits
    .venv/bin/zsclf calibrate /tmp/splits/fit.tsv -o labels/hedging-imagenet21k.json   # refit the shipped defaults
    .venv/bin/zsclf eval /tmp/splits/imagenet-b.tsv --hedge 0.9                          # held-out check
"""

from __future__ import annotations

import argparse
from pathlib import Path

from report.splits import NAMES, manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="the evaluation data folder (../shared/data)")
    parser.add_argument("out", type=Path, help="folder to write fit.tsv, imagenet-b.tsv, ... into")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name in NAMES:
        text = manifest(args.data, name)
        (args.out / f"{name}.tsv").write_text(text, encoding="utf-8")
        print(f"{args.out / name}.tsv: {text.count(chr(10)) - 1} photos")


if __name__ == "__main__":
    main()
