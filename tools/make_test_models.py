"""Write small random-initialised (seed 0) models of each bring-your-own kind, each in its folder with its card.

    python tools/make_test_models.py DIR [--only timm-21k clip-rn clip-vit]

DIR/timm-21k/  test-convnext-atto-21k  timm convnext_atto, 21841 logits (classes imagenet21k)
DIR/clip-rn/   test-clip-rn            OpenCLIP ModifiedResNet image tower + a small text tower
DIR/clip-vit/  test-clip-vit           OpenCLIP ViT image tower + the same small text tower

Offline and deterministic (needs the `foreign` extra); the tests build them once per session.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

TEXT_CFG = {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2}
CLIP_CONFIGS = {
    "clip-rn": {"embed_dim": 64, "text_cfg": TEXT_CFG,
                "vision_cfg": {"image_size": 224, "layers": [1, 1, 1, 1], "width": 16, "head_width": 64}},
    "clip-vit": {"embed_dim": 64, "text_cfg": TEXT_CFG,
                 "vision_cfg": {"image_size": 224, "layers": 2, "width": 64, "head_width": 32, "patch_size": 32}},
}
MODELS = {  # folder: card name of the (image) model
    "timm-21k": "test-convnext-atto-21k",
    "clip-rn": "test-clip-rn",
    "clip-vit": "test-clip-vit",
}
TIMM_ARCH = "convnext_atto"


def make(folder: str, out_dir: Path) -> dict:
    """Export the test model `folder` into out_dir; returns its card entries."""
    if folder == "timm-21k":
        from zsclf.install.foreign import export_timm

        return export_timm(TIMM_ARCH, out_dir, pretrained=False, model_name=MODELS[folder], classes="imagenet21k")
    from zsclf.install.foreign_clip import export_openclip

    return export_openclip(f"custom {folder}", out_dir, pretrained=None, name=MODELS[folder],
                           config=CLIP_CONFIGS[folder])


def make_all(root: Path, only: list[str] | None = None) -> dict[str, float]:
    """Write the test models into root/<folder>/; returns the seconds each took."""
    import torch

    torch.set_num_threads(max(1, torch.get_num_threads()))
    seconds = {}
    for folder in only or list(MODELS):
        start = time.perf_counter()
        make(folder, root / folder)
        seconds[folder] = time.perf_counter() - start
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", type=Path)
    parser.add_argument("--only", nargs="+", choices=list(MODELS), help="only these folders")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    for folder, took in make_all(args.dir, args.only).items():
        size = sum(p.stat().st_size for p in (args.dir / folder).iterdir())
        print(f"{folder}: {took:.1f} s, {size / 1e6:.1f} MB", file=sys.stderr)
    print(f"total {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
