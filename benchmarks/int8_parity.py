"""Accuracy of an int8 image model against its float sibling, through the real CLI (docs/int8.md).

    ZSCLF_MODELS=DIR .venv/bin/python benchmarks/int8_parity.py ../shared/data [--seeds 0 1] [--skip-imagenet]

* imagenet-sample against the default ImageNet-21K index (ConSE works with either model);
* 5-shot visual-space indexes of birds50 and flowers12 (train/ shots, test/ scored), built with each
  model and scored with each: float->float, int8->int8, and the crossed pairs that say whether siblings
  may share photo-taught indexes (pipeline.compat.same_image_model).
Prints one JSON object of hit@1/hit@5 in percent.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
from pathlib import Path


def cli(*args: str) -> str:
    """Run `zsclf ARGS` in this interpreter; its stdout."""
    return subprocess.run([sys.executable, "-m", "zsclf.cli", *args], check=True, capture_output=True, text=True).stdout


def hits(data: str, *args: str) -> dict[str, float]:
    """hit@1 and hit@5 (percent) of `zsclf eval DATA ARGS --json`."""
    report = json.loads(cli("eval", data, *args, "--json"))
    return {f"hit{k}": round(100 * report["hit"][k], 2) for k in ("@1", "@5")}


def split(data: Path, name: str, part: str, out: Path) -> str:
    """A path/label/wnid manifest of one train/ or test/ folder (absolute paths)."""
    with (data / name / "labels.tsv").open(newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.reader(fh, delimiter="\t") if len(r) >= 3 and r[0].startswith(part + "/")]
    path = out / f"{name}-{part}.tsv"
    path.write_text("path\tlabel\twnid\n" + "".join(f"{data / name / r[0]}\t{r[1]}\t{r[2]}\n" for r in rows))
    return str(path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path)
    parser.add_argument("--float", dest="float_model", default="efficientnet-lite0")
    parser.add_argument("--int8", default="efficientnet-lite0-int8")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--skip-imagenet", action="store_true")
    args = parser.parse_args()
    models = {"float": args.float_model, "int8": args.int8}
    result: dict = {}
    if not args.skip_imagenet:
        result["imagenet21k"] = {k: hits(str(args.data / "imagenet-sample" / "labels.tsv"), "--model", m)
                                 for k, m in models.items()}
    with tempfile.TemporaryDirectory(prefix="zsclf-int8-") as tmp:
        out = Path(tmp)
        for name in ("flowers12", "birds50"):
            train, test = split(args.data, name, "train", out), split(args.data, name, "test", out)
            for seed in args.seeds:
                for built, model in models.items():
                    index = out / f"{name}-{built}-{seed}"
                    cli("build-index", "--examples", train, "--shots", "5", "--seed", str(seed), "--space", "visual",
                        "--model", model, "-o", str(index), "-q")
                    for used, other in models.items():
                        row = result.setdefault(name, {}).setdefault(f"built {built}, scored {used}", [])
                        row.append(hits(test, "--index", str(index), "--model", other))
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
