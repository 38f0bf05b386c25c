#!/usr/bin/env python3
"""Write labels/photo_prior.tsv: the CNN's 50 highest logits for each of 1,000 everyday photos.

Sentence indexes (`zsclf build-index --sentences`) correct each sentence's hubness against "typical
photos" (inverted softmax); these rows are those photos, kept as the CNN's top-50 logits (ConSE at
top-t <= 50 needs nothing else), so no photo ships with zsclf and none is read at build time.

    .venv/bin/python tools/make_photo_prior.py ../shared/data/imagenet-sample -o labels/photo_prior.tsv
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from zsclf.core.device import SessionConfig
from zsclf.learn.features import encode_images
from zsclf.learn.photo_prior import PRIOR_TOP, weights_sha256
from zsclf.models.image_encoder import ImageEncoder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("photos", type=Path, help="a folder of photos (the 1,000 ImageNet-1K validation samples)")
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args()
    files = sorted(p for p in args.photos.iterdir() if p.suffix.lower() in (".jpeg", ".jpg", ".png"))
    encoder = ImageEncoder.load(None, SessionConfig(device="cpu", threads=1))
    encoded = encode_images(encoder, [str(p) for p in files], cache=False)
    if encoded.errors:
        raise SystemExit(f"unreadable photos: {list(encoded.errors.values())[:3]}")
    lines = [f"# the {PRIOR_TOP} highest logits of {encoder.name} (weights sha256 {weights_sha256(encoder.spec)[:16]}) "
             f"for {len(files)} photos of {args.photos.name}; made by tools/make_photo_prior.py",
             "photo\tclasses\tlogits"]
    for path, logits in zip(files, encoded.logits, strict=True):
        top = np.argsort(-logits, kind="stable")[:PRIOR_TOP]
        lines.append(f"{path.name}\t{' '.join(map(str, top))}\t{' '.join(f'{logits[c]:.3f}' for c in top)}")
    args.output.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"{args.output}: {len(files)} photos")


if __name__ == "__main__":
    main()
