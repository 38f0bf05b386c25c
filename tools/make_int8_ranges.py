"""Compute the int8 activation ranges of an image model once, to be committed as data.

    python tools/make_int8_ranges.py ../shared/data/imagenet-sample [--model efficientnet-lite0] [--models-dir models]

MinMax ranges of every activation of the exported float model over 100 photos (every 10th of the
sorted folder), written to `labels/<model>-int8.ranges.json`: `zsclf setup` / tools/export_models.py
quantize with them, offline and without photos (see zsclf.install.quantize).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from zsclf.core import paths
from zsclf.core.fsio import atomic_file
from zsclf.install.quantize import calibration_photos, compute_ranges, ranges_document, ranges_path
from zsclf.models.registry import model_spec


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("photos", type=Path, help="folder of photos (imagenet-sample)")
    parser.add_argument("--model", default="efficientnet-lite0", help="the float image model")
    parser.add_argument("--models-dir", type=Path, default=paths.models_dir())
    parser.add_argument("--count", type=int, default=100, help="calibration photos")
    args = parser.parse_args(argv)
    spec = model_spec(args.model, "image", args.models_dir)
    assert spec.entry.input is not None
    photos = calibration_photos(args.photos, args.count)
    with tempfile.TemporaryDirectory(prefix="zsclf-ranges-") as work:
        ranges = compute_ranges(spec.path, spec.entry.input, photos, Path(work))
    doc = ranges_document(ranges, model=args.model, float_sha256=spec.sha256, photos=len(photos),
                          made_by=f"tools/make_int8_ranges.py {args.photos.name} --count {args.count}")
    out = ranges_path(args.model)
    with atomic_file(out) as fh:
        fh.write((json.dumps(doc, indent=1) + "\n").encode())
    print(f"{out}: {len(ranges)} tensors from {len(photos)} photos", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
