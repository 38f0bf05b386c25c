"""`--format html` (issue 19): one self-contained page for `predict` and `search`, through the real CLI."""

from __future__ import annotations

import base64
import hashlib
import io
import re
import shutil

from PIL import Image

from conftest import IMAGES, run_cli

HOSTILE = "<script>alert(1)<\\script>&\"'.png"


def _style_allowed(page: str) -> None:
    """The CSP allows the page's one style block by its hash, and nothing else: no script, no remote fetch."""
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page).group(1)
    assert "default-src 'none'" in csp and "script-src" not in csp
    style = re.search(r"<style>(.*?)</style>", page, re.S).group(1)
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    assert f"'sha256-{digest}'" in csp
    assert "<script" not in page.lower()
    assert not re.search(r'(src|href)="(?!data:image/jpeg;base64,)', page), "only data: images may be loaded"


def _thumbnails(page: str) -> list[Image.Image]:
    found = re.findall(r'src="data:image/jpeg;base64,([A-Za-z0-9+/=]+)"', page)
    return [Image.open(io.BytesIO(base64.b64decode(data))) for data in found]


def test_predict_html_is_one_escaped_self_contained_page(models_ready, default_index, tmp_path):
    hostile = tmp_path / HOSTILE
    shutil.copy(IMAGES / "chelsea.png", hostile)
    proc = run_cli("predict", str(hostile), str(IMAGES / "coffee.png"), str(tmp_path / "missing.jpg"),
                   "-f", "html", "-k", "3", "--hedge", "0.9", expect=1)
    page = proc.stdout
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    _style_allowed(page)
    assert "&lt;script&gt;alert(1)&lt;\\script&gt;&amp;&quot;&#x27;.png" in page  # the path, escaped
    assert "espresso" in page and "cat" in page and "hedged:" in page
    assert page.count("<meter") == 6  # three labels with a score bar for each of the two photos
    assert "missing.jpg: no such file" in page and "1 of 3 inputs failed" in proc.stderr
    thumbs = _thumbnails(page)
    assert len(thumbs) == 2 and all(t.format == "JPEG" and max(t.size) <= 160 for t in thumbs)


def test_an_unreadable_photo_gets_a_card_without_a_preview(models_ready, default_index, tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not an image at all")
    page = run_cli("predict", str(broken), "-f", "html", expect=1).stdout
    assert "not an image Pillow can read" in page and 'class="card error"' in page and not _thumbnails(page)


def test_search_html_shows_each_query_with_its_photos(models_ready, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(IMAGES / "chelsea.png", photos / HOSTILE)
    shutil.copy(IMAGES / "rocket.jpg", photos / "rocket.jpg")
    db = str(tmp_path / "photos.db")
    run_cli("photos", str(photos), "--db", db, "-q", expect=0)
    proc = run_cli("search", "a cat <b>", "a rocket launch", "--db", db, "-k", "1", "-f", "html", expect=0)
    page = proc.stdout
    _style_allowed(page)
    assert "<h2>a cat &lt;b&gt;</h2>" in page and "<h2>a rocket launch</h2>" in page
    first, second = page.split("<h2>")[1:]
    assert "&lt;script&gt;" in first and "rocket.jpg" in second
    assert len(_thumbnails(page)) == 2

