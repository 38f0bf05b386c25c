#!/usr/bin/env python3
"""Float vs int8 text model, through the real CLI: the retrieval figures issue 18 item 4 asks to hold.

    .venv/bin/python benchmarks/text_int8_parity.py ../shared/data [--float all-minilm-l6-v2]
        [--int8 all-minilm-l6-v2-int8] [--work DIR] [--json]

Each text model runs as the install's default text model (a models folder of links to the real models whose
manifest names it: `default_text_model`), so every command embeds text with it:
* the default 21K label build, timed (wall and CPU of the whole command, the two models interleaved);
* imagenet-sample against that 21K index (ConSE), hit@1/hit@5;
* flowers12 test photos against an index of the 12 species and against the 21K index;
* birds50 test photos against an index of the 50 species (WNIDs where WordNet has them);
* coco-captions photo <-> caption retrieval (`eval-retrieval`), R@1/5/10 both ways;
* the own-label sets of benchmarks/own_labels_eval.py (`eval --labels`, label prior off and auto).
Also the label vectors of the two 21K indexes: cosine mean/min per label. Prints a table or JSON.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


MODELS = Path(os.environ.get("ZSCLF_MODELS", ROOT / "models"))
ENV: dict[str, str] = dict(os.environ)  # the environment of the commands: ZSCLF_MODELS set per text model


def models_folder(work: Path, text_model: str) -> Path:
    """A models folder whose default text model is `text_model`: links to the real files, its own cache."""
    folder = work / f"models-{text_model}"
    folder.mkdir(exist_ok=True)
    for item in MODELS.iterdir():
        if item.name not in ("cache", "manifest.json") and not (folder / item.name).exists():
            (folder / item.name).symlink_to(item.resolve())
    manifest = json.loads((MODELS / "manifest.json").read_text())
    if text_model not in manifest["models"]:
        raise SystemExit(f"{MODELS}: no text model {text_model} (run `make setup`)")
    (folder / "manifest.json").write_text(json.dumps({**manifest, "default_text_model": text_model}, indent=1))
    return folder


def cli(*args: str) -> str:
    """`zsclf ARGS` in this interpreter; its stdout (a failure raises with its stderr)."""
    proc = subprocess.run([sys.executable, "-m", "zsclf.cli", *args], capture_output=True, text=True, env=ENV)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"zsclf {' '.join(args)}: exit {proc.returncode}: {proc.stderr.strip()}")
    return proc.stdout


def hits(report: dict) -> dict[str, float]:
    """hit@1 and hit@5 in percent."""
    return {f"hit{k}": round(100 * report["hit"][k], 2) for k in ("@1", "@5") if k in report["hit"]}


def use(work: Path, text_model: str) -> None:
    """Make `text_model` the default of the commands run from now on."""
    ENV["ZSCLF_MODELS"] = str(models_folder(work, text_model))


def timed_build(labels: Path, out: Path) -> dict[str, float]:
    """Wall and CPU seconds of `zsclf build-index LABELS -o OUT`."""
    before, wall = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    cli("build-index", str(labels), "-o", str(out), "-q")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return {"wall_s": round(time.perf_counter() - wall, 1), "cpu_s": round(cpu, 1)}


def species_file(data: Path, name: str, out: Path) -> tuple[Path, Path]:
    """(label file of the set's species, with their WNIDs when every species has one, manifest of its test/
    photos)."""
    with (data / name / "labels.tsv").open(newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.reader(fh, delimiter="\t") if len(r) >= 3 and r[0] != "path"]
    species = dict.fromkeys((r[1], r[2]) for r in rows)
    labels = out / f"{name}-species.tsv"
    if all(wnid for _, wnid in species):
        labels.write_text("label\twnid\n" + "".join(f"{label}\t{wnid}\n" for label, wnid in species))
    else:  # names only (a label file cannot leave some WNIDs empty)
        labels.write_text("label\n" + "".join(f"{label}\n" for label, _ in species))
    test = out / f"{name}-test.tsv"
    test.write_text("path\tlabel\twnid\n" + "".join(f"{data / name / r[0]}\t{r[1]}\t{r[2]}\n"
                                                     for r in rows if r[0].startswith("test/")))
    return labels, test


def vectors(index: Path) -> np.ndarray:
    """The label vectors of an index folder (through the library)."""
    sys.path.insert(0, str(ROOT / "src"))
    from zsclf.index.store import load_index

    return load_index(index).vectors()


def measure(data: Path, work: Path, text_model: str, build: dict[str, float]) -> dict:
    """Every figure for one text model (its 21K index already built under work/21k-MODEL)."""
    use(work, text_model)
    index21k = str(work / f"21k-{text_model}")
    out: dict = {"build_21k": build}
    out["imagenet_21k"] = hits(json.loads(cli("eval", str(data / "imagenet-sample" / "labels.tsv"),
                                              "--index", index21k, "--json", "-q")))
    for name in ("flowers12", "birds50"):
        labels, test = species_file(data, name, work)
        index = work / f"{name}-{text_model}"
        cli("build-index", str(labels), "-o", str(index), "-q")
        out[f"{name}_species"] = hits(json.loads(cli("eval", str(test), "--index", str(index), "--json", "-q")))
    out["flowers12_21k"] = hits(json.loads(cli("eval", str(work / "flowers12-test.tsv"), "--index", index21k,
                                               "--json", "-q")))
    ret = json.loads(cli("eval-retrieval", str(data / "coco-captions" / "pairs.tsv"), "--json", "-q"))
    out["coco_retrieval"] = {f"{way}_R{k}": round(100 * ret[way][f"R@{k}"], 2)
                             for way in ("image_to_text", "text_to_image") for k in (1, 5, 10) if way in ret}
    own = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "own_labels_eval.py"), "--json", "--scratch",
                          str(work / f"own-labels-{text_model}")], capture_output=True, text=True, check=True, env=ENV)
    out["own_labels"] = {name: {prior: round(100 * s[prior]["hit@1"], 2) for prior in ("off", "auto")}
                         for name, s in json.loads(own.stdout)["sets"].items()}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path)
    parser.add_argument("--float", dest="float_model", default="all-minilm-l6-v2")
    parser.add_argument("--int8", default="all-minilm-l6-v2-int8")
    parser.add_argument("--work", type=Path, help="keep indexes here (default: a temporary folder)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    models = (args.float_model, args.int8)
    with tempfile.TemporaryDirectory(prefix="zsclf-text-int8-") as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        labels21k = ROOT / "labels" / "imagenet21k.tsv"
        builds: dict[str, list[dict[str, float]]] = {m: [] for m in models}
        for order in (models, models[::-1]):  # interleaved: A B B A
            for m in order:
                use(work, m)
                builds[m].append(timed_build(labels21k, work / f"21k-{m}"))
        best = {m: min(b, key=lambda r: r["wall_s"]) | {"runs": b} for m, b in builds.items()}
        figures = {m: measure(args.data, work, m, best[m]) for m in models}
        a, b = (vectors(work / f"21k-{m}") for m in models)
        cos = (a * b).sum(axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    result = {"models": figures,
              "label_cosine": {"mean": round(float(cos.mean()), 5), "min": round(float(cos.min()), 5)},
              "build_ratio_wall": round(best[models[0]]["wall_s"] / best[models[1]]["wall_s"], 2)}
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    print(f"21K build, best wall: {best[models[0]]['wall_s']} s vs {best[models[1]]['wall_s']} s "
          f"({result['build_ratio_wall']}x); label cosine mean {result['label_cosine']['mean']} "
          f"min {result['label_cosine']['min']}")
    print(f"| figure | {models[0]} | {models[1]} | Δ pt |\n|---|---:|---:|---:|")
    for section, values in figures[models[0]].items():
        if section == "build_21k":
            continue
        for key, value in values.items():
            if isinstance(value, dict):
                for prior, v in value.items():
                    other = figures[models[1]][section][key][prior]
                    print(f"| {section} {key} prior {prior} hit@1 | {v} | {other} | {other - v:+.2f} |")
            else:
                other = figures[models[1]][section][key]
                print(f"| {section} {key} | {value} | {other} | {other - value:+.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
