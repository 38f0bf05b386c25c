"""Reading images and turning them into the encoder's input tensors.

Decoding is defensive: every Pillow mode becomes RGB, EXIF orientation is applied, animated
files give their first frame, JPEGs decode at reduced size when that is all the crop needs
(draft mode), and oversized images are refused before they are decoded.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from .errors import ImageError

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".gif", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm", ".jfif"}
)
MAX_PIXELS = 100_000_000  # decompression-bomb guard: refuse anything larger before decoding
Image.MAX_IMAGE_PIXELS = MAX_PIXELS  # Pillow's own guard: an error above 2x, before the header is trusted
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)  # our size check reports it
ImageFile.LOAD_TRUNCATED_IMAGES = False


@dataclass(frozen=True)
class Preprocess:
    """What the image encoder wants: TF-style centre crop, bicubic resize to `size`, uint8 RGB pixels.

    `mean`/`std` document the scaling the exported graph applies itself; `scale()` reproduces it
    for code that feeds a float model (the PyTorch parity checks and baseline).
    """

    size: int = 224
    crop_fraction: float = 224 / 256
    mean: float = 127.0
    std: float = 128.0

    @classmethod
    def from_manifest(cls, entry: dict) -> Preprocess:
        """Build from a manifest image-model entry's `input` block."""
        spec = entry["input"]
        return cls(int(spec["size"]), float(spec["crop_fraction"]), float(spec["mean"]), float(spec["std"]))

    def scale(self, batch: np.ndarray) -> np.ndarray:
        """uint8 NHWC pixels -> the float NCHW tensor the original network expects."""
        return np.ascontiguousarray(((batch.astype(np.float32) - self.mean) / self.std).transpose(0, 3, 1, 2))


def _flatten_alpha(img: Image.Image) -> Image.Image:
    """Composite an image with transparency onto white, giving RGB."""
    rgba = img.convert("RGBA")
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(background, rgba).convert("RGB")


def to_rgb(img: Image.Image) -> Image.Image:
    """Convert any Pillow mode (1, L, LA, P, RGBA, CMYK, I;16, I, F, ...) to 8-bit RGB."""
    mode = img.mode
    if mode == "RGB":
        return img
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in img.info):
        return _flatten_alpha(img)
    if mode.startswith("I;16") or mode in ("I", "F"):
        arr = np.asarray(img, dtype=np.float32)
        lo, hi = float(arr.min()), float(arr.max())
        scaled = (arr - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(arr)
        return Image.fromarray(scaled.clip(0, 255).astype(np.uint8), "L").convert("RGB")
    return img.convert("RGB")


def load_image(path: str | os.PathLike, min_side: int = 256) -> Image.Image:
    """Decode `path` to an upright RGB image whose short side is at least `min_side` when possible.

    Raises ImageError with a one-line reason for any unreadable input.
    """
    name = os.fspath(path)
    try:
        with Image.open(name) as img:  # opening reads the header only; animated files open on frame 0
            width, height = img.size
            if width * height > MAX_PIXELS:
                raise ImageError(f"{name}: image too large ({width}x{height} pixels, limit {MAX_PIXELS})")
            if img.format == "JPEG":
                img.draft("RGB", (min_side, min_side))
            img.load()
            img = ImageOps.exif_transpose(img)
            return to_rgb(img)
    except ImageError:
        raise
    except FileNotFoundError:
        raise ImageError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise ImageError(f"{name}: is a directory") from None
    except PermissionError:
        raise ImageError(f"{name}: permission denied") from None
    except UnidentifiedImageError:
        size = _size_or_none(name)
        reason = "empty file (0 bytes)" if size == 0 else "not an image Pillow can read"
        raise ImageError(f"{name}: {reason}") from None
    except Image.DecompressionBombError as exc:
        raise ImageError(f"{name}: refused as a decompression bomb ({exc})") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageError(f"{name}: cannot decode image ({exc})") from None


def _size_or_none(name: str) -> int | None:
    try:
        return os.path.getsize(name)
    except OSError:
        return None


def preprocess(img: Image.Image, spec: Preprocess) -> np.ndarray:
    """Centre-crop the fraction `spec.crop_fraction` of the short side, resize bicubic: [size, size, 3] uint8."""
    width, height = img.size
    crop = max(1, int(round(spec.crop_fraction * min(width, height))))
    left = (width - crop + 1) // 2
    top = (height - crop + 1) // 2
    img = img.resize((spec.size, spec.size), Image.Resampling.BICUBIC, box=(left, top, left + crop, top + crop))
    return np.asarray(img, dtype=np.uint8)


def load_and_preprocess(path: str | os.PathLike, spec: Preprocess) -> np.ndarray:
    """Decode and preprocess one image file into a [size, size, 3] uint8 array (raises ImageError)."""
    min_side = int(np.ceil(spec.size / spec.crop_fraction))
    return preprocess(load_image(path, min_side=min_side), spec)


def decode_batches(inputs: Iterable[str], spec: Preprocess, batch_size: int, pool: Executor,
                   ahead: int = 2) -> Iterator[list[tuple[str, np.ndarray | str]]]:
    """Batches of (path, pixels or one-line error), decoded up to `ahead` batches ahead in `pool`, in input order."""
    pending: deque[tuple[str, Future]] = deque()
    source = iter(inputs)

    def fill() -> None:
        while len(pending) < ahead * batch_size:
            path = next(source, None)
            if path is None:
                return
            pending.append((path, pool.submit(load_and_preprocess, path, spec)))

    fill()
    while pending:
        batch = [pending.popleft() for _ in range(min(batch_size, len(pending)))]
        fill()
        yield [(path, _outcome(future)) for path, future in batch]


def _outcome(future: Future) -> np.ndarray | str:
    """The decoded array, or a one-line error message."""
    try:
        return future.result()
    except ImageError as exc:
        return str(exc)
    except Exception as exc:  # a decoder bug must not take down the batch
        return f"unexpected error while decoding ({type(exc).__name__}: {exc})"


def is_image_path(path: Path) -> bool:
    """True when the file name has a known image extension."""
    return path.suffix.lower() in IMAGE_EXTENSIONS


def walk_images(folder: Path) -> Iterator[Path]:
    """Image files under `folder`, recursively, in sorted order (directories before deeper files by name)."""
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            path = Path(root) / name
            if is_image_path(path):
                yield path


def expand_inputs(inputs: Iterable[str], stdin: Iterable[str] | None = None) -> Iterator[str]:
    """Expand CLI inputs lazily: files as given, folders walked, `-` reads one path per line from stdin."""
    for item in inputs:
        if item == "-":
            for line in stdin if stdin is not None else sys.stdin:
                line = line.rstrip("\r\n")
                if line.strip():
                    yield line
        elif os.path.isdir(item):
            yield from (str(p) for p in walk_images(Path(item)))
        else:
            yield item
