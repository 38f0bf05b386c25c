"""zsclf vs the pipeline a user would write by hand, side by side, in one process.

The baseline: the same EfficientNet-Lite0 weights in PyTorch eager mode, PIL preprocessing
(same crop and normalisation), `torch.no_grad()`, batch 32, ConSE with the same seen-class
embeddings, and a numpy search over the same label embeddings. Prints both throughputs, their
ratio, and both pipelines' hit@1 to show they compute the same thing.

    .venv/bin/python benchmarks/baseline_torch.py [../shared/data/imagenet-sample] [--limit N] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))


def baseline(paths: list[str], model, seen: np.ndarray, labels: np.ndarray, spec, top_t: int, batch: int = 32):
    """PyTorch eager + PIL + numpy: returns (top-1 label rows, seconds)."""
    import torch
    from PIL import Image

    def load(path: str) -> np.ndarray:
        img = Image.open(path).convert("RGB")
        w, h = img.size
        crop = round(spec.crop_fraction * min(w, h))
        left, top = (w - crop + 1) // 2, (h - crop + 1) // 2
        img = img.crop((left, top, left + crop, top + crop)).resize((spec.size, spec.size), Image.BICUBIC)
        return ((np.asarray(img, dtype=np.float32) - spec.mean) / spec.std).transpose(2, 0, 1)

    start = time.perf_counter()
    rows = []
    with torch.no_grad():
        for i in range(0, len(paths), batch):
            x = torch.from_numpy(np.stack([load(p) for p in paths[i:i + batch]]))
            logits = model.net(x)
            probs = torch.softmax(logits, dim=1).numpy()
            top = np.argsort(-probs, axis=1)[:, :top_t]
            q = np.einsum("nt,ntd->nd", np.take_along_axis(probs, top, 1), seen[top])
            q /= np.linalg.norm(q, axis=1, keepdims=True)
            rows.extend(np.argmax(q @ labels.T, axis=1))
    return np.array(rows), time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", default=str(ROOT.parent / "shared" / "data" / "imagenet-sample"))
    parser.add_argument("--limit", type=int, default=1000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    import torch

    import export_models
    from zsclf import Classifier
    from zsclf.data.dataset import read_dataset
    from zsclf.measure.evaluate import match_samples

    samples = read_dataset(Path(args.data) / "labels.tsv" if Path(args.data).is_dir() else args.data)[: args.limit]
    paths = [s.path for s in samples]
    clf = Classifier.load(device="cpu")
    truth, _ = match_samples(samples, clf.index.ids, clf.index.names)
    truth = np.array(truth)
    model, _ = export_models.load_image_model(clf.encoder.name)
    torch.set_num_threads(clf.threads)
    labels = clf.index.vectors()

    list(clf.predict_paths(paths[:32], top_k=1))  # warm both up on the same images
    baseline(paths[:32], model, clf.projection.seen, labels, clf.encoder.preprocess, clf.projection.top_t)

    start = time.perf_counter()
    ours = [r.predictions[0] for r in clf.predict_paths(paths, top_k=1, batch_size=32)]
    ours_s = time.perf_counter() - start
    row_of = {label_id: i for i, label_id in enumerate(clf.index.ids)}
    ours_rows = np.array([row_of[p.id] for p in ours])
    base_rows, base_s = baseline(paths, model, clf.projection.seen, labels, clf.encoder.preprocess,
                                 clf.projection.top_t)
    scored = truth >= 0
    result = {
        "images": len(paths),
        "zsclf_images_per_s": len(paths) / ours_s,
        "baseline_images_per_s": len(paths) / base_s,
        "speedup": base_s / ours_s,
        "zsclf_hit1": float((ours_rows[scored] == truth[scored]).mean()),
        "baseline_hit1": float((base_rows[scored] == truth[scored]).mean()),
        "top1_agreement": float((ours_rows == base_rows).mean()),
        "threads": clf.threads,
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{len(paths)} images, {clf.threads} threads, batch 32, {len(labels)} labels")
        print(f"zsclf (ONNX Runtime, threaded decode, FAISS): {result['zsclf_images_per_s']:.1f} images/s, "
              f"hit@1 {result['zsclf_hit1']:.3f}")
        print(f"baseline (PyTorch eager, PIL, numpy):          {result['baseline_images_per_s']:.1f} images/s, "
              f"hit@1 {result['baseline_hit1']:.3f}")
        print(f"speed-up {result['speedup']:.2f}x; top-1 agreement {result['top1_agreement']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
