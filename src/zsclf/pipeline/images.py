"""Reading images and turning them into the encoder's input tensors.

Decoding is defensive: every Pillow mode becomes RGB, EXIF orientation is applied, animated
files give their first frame, JPEGs decode at reduced size when that is all the crop needs
(draft mode), any image far larger than the crop needs is box-reduced right after decoding (before
mode conversions, which would copy it at full size), and oversized images are refused before they
are decoded.
"""

from __future__ import annotations

import io
import os
import warnings
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Executor, Future

import numpy as np
from PIL import ExifTags, Image, ImageFile, UnidentifiedImageError

from ..core import uri
from ..core.fsio import open_regular, os_reason
from ..data.heif import MISSING, heif_available, is_heif_name
from ..errors import ImageError, ZsclfError
from ..models.registry import Preprocess

MAX_FILE_BYTES = 1 << 28  # an image at a URI is read whole (one request, not many small ranged reads)
MAX_PIXELS = 100_000_000  # decompression-bomb guard: refuse anything larger before decoding
Image.MAX_IMAGE_PIXELS = MAX_PIXELS  # Pillow's own guard: an error above 2x, before the header is trusted
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)  # our size check reports it
ImageFile.LOAD_TRUNCATED_IMAGES = False
# Box-reduce by an integer factor while the short side stays >= REDUCING_GAP x what the crop needs, so the
# bicubic resize that follows still downscales >= 6x (Pillow's `reducing_gap` idea). Measured on 40 photos
# upscaled 5x to PNG: the encoder's input moves by 0.016 grey levels on average (max 16 at an edge),
# features by cosine >= 0.9995, top-1 unchanged (gap 3: 1.5 levels, cosine >= 0.995). A 48 MP RGBA PNG
# then peaks at 0.39 GB RSS instead of 1.3 GB (predict, one image).
REDUCING_GAP = 6
_TRANSPOSE = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
              5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
              8: Image.Transpose.ROTATE_90}  # EXIF orientation -> the transpose that makes it upright


def _flatten_alpha(img: Image.Image) -> Image.Image:
    """Composite an image with transparency onto white, giving RGB."""
    rgba = img if img.mode == "RGBA" else img.convert("RGBA")
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

    Raises ImageError with a one-line reason for any unreadable input (never blocks on a FIFO).
    A URI (`s3://…`, `gs://…`, `file://…`) is read through pyarrow.fs.
    """
    name = os.fspath(path)
    if is_heif_name(name) and not heif_available():
        raise ImageError(name, MISSING)
    try:
        fh = io.BytesIO(uri.read_bytes(name, MAX_FILE_BYTES)) if uri.is_uri(name) else open_regular(name)
    except OSError as exc:
        raise ImageError(name, os_reason(exc)) from None
    except ZsclfError as exc:  # no pyarrow, or too large
        raise ImageError(name, str(exc).removeprefix(f"{name}: ")) from None
    with fh:
        return decode_file(fh, name, min_side)


def decode_file(fh, name: str, min_side: int = 256) -> Image.Image:
    """`load_image` for an open binary file (or bytes in memory, e.g. an upload) that `name` describes in
    errors: the same guards (pixel limit, decompression bombs), the same one-line ImageError reasons."""
    try:
        return _decode(fh, name, min_side)
    except UnidentifiedImageError:
        fh.seek(0)
        empty = fh.read(1) == b""
        raise ImageError(name, "empty file (0 bytes)" if empty else "not an image Pillow can read") from None
    except Image.DecompressionBombError as exc:
        raise ImageError(name, f"refused as a decompression bomb ({exc})") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageError(name, f"cannot decode image ({exc})") from None


def _decode(fh, name: str, min_side: int) -> Image.Image:
    with Image.open(fh) as img:  # opening reads the header only; animated files open on frame 0
        width, height = img.size
        if width * height > MAX_PIXELS:
            raise ImageError(name, f"image too large ({width}x{height} pixels, limit {MAX_PIXELS})")
        if img.format == "JPEG":
            img.draft("RGB", (min_side, min_side))
        img.load()
        orientation = img.getexif().get(ExifTags.Base.Orientation, 1)
        upright = shrink(img, min_side)
        if orientation in _TRANSPOSE:
            upright = upright.transpose(_TRANSPOSE[orientation])
        return to_rgb(upright)


def shrink(img: Image.Image, min_side: int) -> Image.Image:
    """`img` box-reduced by the largest integer factor that keeps its short side >= REDUCING_GAP x `min_side`
    (itself when that factor is 1). Palette and 1-bit images are converted first (averaging palette
    indexes means nothing); 16/32-bit and float images are returned as they are (to_rgb stretches their
    contrast between the extreme pixels, which averaging would move), as are modes Pillow cannot reduce."""
    factor = min(img.size) // (REDUCING_GAP * min_side)
    if factor < 2 or img.mode.startswith("I") or img.mode == "F":
        return img
    if img.mode in ("P", "PA", "1"):
        img = img.convert("RGBA" if img.mode == "PA" or "transparency" in img.info else
                          "L" if img.mode == "1" else "RGB")
    try:
        img.crop((0, 0, factor, factor)).reduce(factor)  # can this mode be reduced? (e.g. I;16 cannot)
    except ValueError:  # converted at full size by to_rgb
        return img
    return _reduce_in_strips(img, factor)


def _reduce_in_strips(img: Image.Image, factor: int, rows: int = 64) -> Image.Image:
    """`img.reduce(factor)`, `rows` output rows at a time: Pillow reduces RGBA and LA through a premultiplied
    copy of the whole image (even with a box), which this bounds to one cropped strip. The result is
    identical (strips start at multiples of `factor`, so every box averages the same pixels)."""
    width, height = img.size
    out = Image.new(img.mode, (-(-width // factor), -(-height // factor)))
    for top in range(0, height, rows * factor):
        bottom = min(height, top + rows * factor)
        out.paste(img.crop((0, top, width, bottom)).reduce(factor), (0, top // factor))
    return out


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
    return preprocess(load_image(path, min_side=_min_side(spec)), spec)


def preprocess_bytes(data: bytes, name: str, spec: Preprocess) -> np.ndarray:
    """`load_and_preprocess` for an image held in memory (an upload), `name` naming it in errors."""
    return preprocess(decode_file(io.BytesIO(data), name, _min_side(spec)), spec)


def _min_side(spec: Preprocess) -> int:
    """The short side the crop needs before it is resized to the encoder's input."""
    return int(np.ceil(spec.size / spec.crop_fraction))


def decode_batches(inputs: Iterable[str], spec: Preprocess, batch_size: int, pool: Executor,
                   ahead: int = 2) -> Iterator[list[tuple[str, np.ndarray | ImageError]]]:
    """Batches of (path, pixels or the ImageError saying why not), decoded up to `ahead` batches ahead in
    `pool`, in input order."""
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
        yield [(path, _outcome(path, future)) for path, future in batch]


def _outcome(path: str, future: Future) -> np.ndarray | ImageError:
    """The decoded array, or the error that explains in one line why there is none."""
    try:
        return future.result()
    except ImageError as exc:
        return exc
    except Exception as exc:  # a decoder bug must not take down the batch
        return ImageError(path, f"unexpected error while decoding ({type(exc).__name__}: {exc})")
