"""Decoding and preprocessing: every Pillow mode, EXIF, animation, bad files."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from conftest import IMAGES
from zsclf.data.image_files import expand_inputs
from zsclf.errors import ImageError
from zsclf.models.registry import Preprocess
from zsclf.pipeline.images import REDUCING_GAP, load_and_preprocess, load_image, preprocess, shrink, to_rgb

SPEC = Preprocess()


def save(tmp_path, name: str, img: Image.Image, **kw) -> str:
    path = tmp_path / name
    img.save(path, **kw)
    return str(path)


@pytest.mark.parametrize("mode", ["1", "L", "LA", "P", "RGB", "RGBA", "CMYK", "I;16", "I", "F"])
def test_every_mode_becomes_rgb(mode):
    img = Image.new("RGB", (40, 30), (200, 100, 50)).convert(mode)
    out = to_rgb(img)
    assert out.mode == "RGB" and out.size == (40, 30)


def test_transparency_is_composited_on_white(tmp_path):
    rgba = Image.new("RGBA", (10, 10), (255, 0, 0, 0))  # fully transparent red
    assert to_rgb(rgba).getpixel((0, 0)) == (255, 255, 255)
    p = Image.new("P", (10, 10), 0)
    p.putpalette([0, 0, 0] * 256)
    p.info["transparency"] = 0
    path = save(tmp_path, "t.png", p, transparency=0)
    assert load_image(path).getpixel((5, 5)) == (255, 255, 255)


def test_sixteen_bit_greyscale_is_scaled(tmp_path):
    arr = np.linspace(0, 65535, 64 * 64).reshape(64, 64).astype(np.uint16)
    path = save(tmp_path, "deep.png", Image.fromarray(arr))
    out = np.asarray(load_image(path))
    assert out.min() == 0 and out.max() == 255


def test_exif_orientation_is_applied(tmp_path):
    img = Image.new("RGB", (60, 20), (0, 0, 255))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    path = save(tmp_path, "rot.jpg", img, exif=exif)
    assert load_image(path, min_side=60).size == (20, 60)


def test_large_images_are_box_reduced_before_any_full_size_conversion(tmp_path):
    """An RGBA PNG far larger than the crop needs: reduced by an integer factor (short side kept >=
    REDUCING_GAP x min_side), then composited on white; EXIF orientation still applied."""
    arr = np.zeros((400, 1200, 4), np.uint8)
    arr[:, :600] = (255, 0, 0, 255)  # left half opaque red, right half transparent
    img = Image.fromarray(arr, "RGBA")
    exif = Image.Exif()
    exif[0x0112] = 6  # shown rotated 90 degrees clockwise: the left half becomes the top half
    path = save(tmp_path, "big.png", img, exif=exif)
    out = load_image(path, min_side=10)
    factor = 400 // (REDUCING_GAP * 10)
    assert out.mode == "RGB" and out.size == (-(-400 // factor), 1200 // factor)
    assert out.getpixel((out.width // 2, 5)) == (255, 0, 0)
    assert out.getpixel((out.width // 2, out.height - 5)) == (255, 255, 255)
    assert load_image(path, min_side=400).size == (400, 1200)  # not larger than needed: not reduced


@pytest.mark.parametrize("mode", ["1", "L", "LA", "P", "RGB", "RGBA", "CMYK", "I;16", "I", "F"])
def test_shrink_handles_every_mode_and_never_averages_palette_indexes(mode):
    stripes = np.zeros((300, 300, 3), np.uint8)
    stripes[:, 0::2] = (255, 0, 0)
    stripes[:, 1::2] = (0, 0, 255)
    img = Image.fromarray(stripes, "RGB")
    img = img.quantize(colors=2) if mode == "P" else img.convert(mode)
    small = to_rgb(shrink(img, min_side=10))
    # factor 5; 16/32-bit and float images are left for to_rgb's contrast stretch at full size
    assert small.size == ((300, 300) if mode in ("I;16", "I", "F") else (60, 60))
    if mode in ("P", "RGB", "RGBA", "CMYK"):
        r, g, b = small.getpixel((30, 30))
        assert abs(r - 128) < 30 and abs(b - 128) < 30 and g < 30  # the average of red and blue: purple


def test_animated_gif_uses_first_frame(tmp_path):
    frames = [Image.new("RGB", (16, 16), c) for c in ((255, 0, 0), (0, 255, 0))]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=50, loop=0)
    r, g, b = load_image(path).getpixel((8, 8))
    assert r > 200 and g < 50


def test_jpeg_draft_decodes_at_reduced_size_but_not_below_need(tmp_path):
    path = save(tmp_path, "big.jpg", Image.new("RGB", (2048, 1536), (10, 20, 30)), quality=80)
    img = load_image(path, min_side=256)
    assert min(img.size) >= 256 and img.size[0] < 2048


@pytest.mark.parametrize("content,needle", [(b"", "empty file"), (b"not an image at all", "not an image")])
def test_unreadable_files_raise_one_line_error(tmp_path, content, needle):
    path = tmp_path / "bad.jpg"
    path.write_bytes(content)
    with pytest.raises(ImageError, match=needle) as err:
        load_image(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_truncated_jpeg_is_an_error(tmp_path):
    buf = io.BytesIO()
    Image.new("RGB", (300, 300), (1, 2, 3)).save(buf, "JPEG")
    path = tmp_path / "cut.jpg"
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(ImageError, match="cut.jpg"):
        load_image(path)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(ImageError, match="no such file"):
        load_image(tmp_path / "nope.png")
    with pytest.raises(ImageError, match="is a directory"):
        load_image(tmp_path)


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")  # pytest resets our module filter
def test_decompression_bomb_is_refused(tmp_path):
    path = save(tmp_path, "bomb.png", Image.new("1", (12_000, 12_000)))  # tiny file, 144 Mpx
    with pytest.raises(ImageError, match="too large|decompression bomb"):
        load_image(path)


def test_preprocess_shape_and_scaling():
    arr = preprocess(Image.new("RGB", (500, 300), (255, 127, 0)), SPEC)
    assert arr.shape == (224, 224, 3) and arr.dtype == np.uint8
    scaled = SPEC.scale(arr[None])
    assert scaled.shape == (1, 3, 224, 224) and scaled.dtype == np.float32
    assert np.allclose(scaled[0, :, 100, 100], [(255 - 127) / 128, 0.0, -127 / 128])


def test_centre_crop_takes_the_middle_of_the_short_side():
    img = Image.new("RGB", (400, 200), (0, 0, 0))
    img.paste((255, 255, 255), (100, 0, 300, 200))  # white centre square
    arr = preprocess(img, SPEC)
    assert arr.min() > 240  # 175 px crop of the 200 px side lies inside the white square


def test_real_photo_preprocesses():
    arr = load_and_preprocess(IMAGES / "chelsea.png", SPEC)
    assert arr.shape == (224, 224, 3) and arr.min() < 50 and arr.max() > 200


def test_expand_inputs_walks_folders_sorted_and_reads_stdin(tmp_path):
    (tmp_path / "b").mkdir()
    for name in ("b/2.jpg", "a.PNG", "b/1.webp", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    walked = list(expand_inputs([str(tmp_path)]))
    assert [p.removeprefix(str(tmp_path) + "/") for p in walked] == ["a.PNG", "b/1.webp", "b/2.jpg"]
    assert list(expand_inputs(["-", "x.jpg"], stdin=["one.jpg\n", "\n", "two.jpg\r\n"])) == [
        "one.jpg", "two.jpg", "x.jpg"]
