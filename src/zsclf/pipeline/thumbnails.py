"""Small JPEG thumbnails of photos, for people to look at (`--format html`, `zsclf serve`).

Decoded through `images.load_image`, so with its guards: regular files only (never blocks on a FIFO),
the pixel limit and decompression-bomb refusal, EXIF orientation, JPEG draft decoding at reduced size.
A thumbnail's longest side is at most THUMB_SIDE pixels, so its bytes stay small (a few KB).
"""

from __future__ import annotations

import io
import os

from PIL import Image

from .images import load_image

THUMB_SIDE = 160
QUALITY = 72


def thumbnail_jpeg(path: str | os.PathLike, side: int = THUMB_SIDE) -> bytes:
    """JPEG bytes of `path` shrunk to fit in side x side (raises ImageError with a one-line reason)."""
    img = load_image(path, min_side=side)
    return jpeg_bytes(img, side)


def jpeg_bytes(img: Image.Image, side: int = THUMB_SIDE) -> bytes:
    """An RGB image shrunk to fit in side x side, as JPEG bytes."""
    img = img.copy()
    img.thumbnail((side, side), Image.Resampling.BICUBIC)
    out = io.BytesIO()
    img.save(out, "JPEG", quality=QUALITY, optimize=True)
    return out.getvalue()
