"""`zsclf serve`'s page in a real browser (issue 19): headless Chromium, driven over the DevTools protocol
(`--remote-debugging-pipe`: no extra package), against a real `zsclf serve` process on a free loopback port.
With a bearer token (a wrong one in the URL is refused on the page), types a query and sees the cat among
the results, clicks it for photos like it, hands the file input a photo and reads its labels; the screenshot
is kept (its path is printed; ZSCLF_ARTEFACTS=DIR copies it there)."""

from __future__ import annotations

import base64
import json
import os
import queue
import select
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import IMAGES, run_cli

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
pytestmark = [pytest.mark.skipif(CHROMIUM is None, reason="no headless Chromium (Debian: apt-get install chromium)")]
pytest.importorskip("uvicorn", reason="the serve extra is not installed: pip install 'zsclf[serve]'")


TOKEN = "browser-test-token-0123456789"  # the page reads it from its URL's #token=…


class DevTools:
    """Chromium with its DevTools protocol on fds 3 (commands in) and 4 (answers out), NUL-separated JSON."""

    def __init__(self, profile: Path) -> None:
        to_chrome, self._in = os.pipe()
        self._out, from_chrome = os.pipe()

        def fds() -> None:  # in the child: the pipe ends on 3 and 4 (moved out of the way first)
            a, b = os.dup(to_chrome), os.dup(from_chrome)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen([CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                                      "--remote-debugging-pipe", f"--user-data-dir={profile}",
                                      "--window-size=1200,800", "about:blank"],
                                     preexec_fn=fds, close_fds=False, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        os.close(to_chrome)
        os.close(from_chrome)
        self.answers: queue.Queue = queue.Queue()
        self.next_id = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        buffer = b""
        while chunk := os.read(self._out, 1 << 16):
            buffer += chunk
            while b"\0" in buffer:
                message, buffer = buffer.split(b"\0", 1)
                self.answers.put(json.loads(message))

    def send(self, method: str, session: str | None = None, **params) -> dict:
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._in, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            answer = self.answers.get(timeout=deadline - time.monotonic())
            if answer.get("id") == self.next_id:
                assert "error" not in answer, answer
                return answer["result"]
        raise TimeoutError(method)

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        os.close(self._in)


class Page:
    def __init__(self, browser: DevTools) -> None:
        self.browser = browser
        target = browser.send("Target.createTarget", url="about:blank")["targetId"]
        self.session = browser.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.send("Page.enable")

    def send(self, method: str, **params) -> dict:
        return self.browser.send(method, self.session, **params)

    def js(self, expression: str):
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        assert "exceptionDetails" not in result, result
        return result["result"].get("value")

    def wait_for(self, expression: str, seconds: float = 60):
        """Poll `expression` until it is truthy; while the page is still loading (elements not there yet) it
        counts as not yet, not as a failure."""
        deadline = time.monotonic() + seconds
        guarded = f"(() => {{ try {{ return ({expression}); }} catch (e) {{ return null; }} }})()"
        while time.monotonic() < deadline:
            if value := self.js(guarded):
                return value
            time.sleep(0.1)
        raise AssertionError(f"the page never showed: {expression}\n{self.js('document.body.innerText')}")

    def click(self, selector: str) -> None:
        """A real mouse click at the middle of the element."""
        box = self.js(f"(() => {{const r = document.querySelector({json.dumps(selector)}).getBoundingClientRect();"
                      "return [r.x + r.width / 2, r.y + r.height / 2];})()")
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1], button="left", clickCount=1)


@pytest.fixture()
def server(models_ready, default_index, tmp_path):
    db = tmp_path / "photos.db"
    run_cli("photos", str(IMAGES), "--db", str(db), "-q", expect=0)
    proc = subprocess.Popen([sys.executable, "-m", "zsclf.cli", "serve", "--db", str(db), "--port", "0"],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                            env={**os.environ, "ZSCLF_SERVE_TOKEN": TOKEN})
    try:
        deadline, url = time.monotonic() + 120, None
        while url is None and time.monotonic() < deadline and proc.poll() is None:
            if select.select([proc.stderr], [], [], 1)[0]:
                line = proc.stderr.readline()
                url = line.split("serving on ")[1].split()[0] if "serving on " in line else None
        assert url and url.startswith("http://127.0.0.1:"), f"zsclf serve did not start (exit {proc.poll()})"
        threading.Thread(target=proc.stderr.read, daemon=True).start()  # its log never fills the pipe
        yield url
    finally:
        proc.terminate()
        assert proc.wait(30) == 0 or proc.returncode == -15


def test_the_page_searches_finds_the_cat_shows_photos_like_it_and_classifies_a_photo(server, tmp_path):
    browser = DevTools(tmp_path / "profile")
    try:
        page = Page(browser)
        page.send("Page.navigate", url=server + "?q=a%20cat#token=wrong-token-0123456789")  # searches on load
        assert page.wait_for("document.getElementById('status').className === 'error' && "
                             "document.getElementById('status').textContent").startswith("missing or wrong bearer")
        page.send("Page.navigate", url=server + "#token=" + TOKEN)
        page.wait_for("document.readyState === 'complete' && document.getElementById('status').textContent === ''")
        page.wait_for("document.readyState === 'complete' && !!document.getElementById('q')")
        page.js("document.getElementById('q').focus()")
        page.send("Input.insertText", text="a photo of a cat")
        page.click("#search button")
        first = page.wait_for("document.querySelector('#grid .photo .path')?.textContent")
        assert first.endswith("chelsea.png")
        page.wait_for("[...document.querySelectorAll('#grid img')].every(i => i.complete && i.naturalWidth > 0)")
        cat_id = page.js("document.querySelector('#grid .photo').dataset.id")

        page.click("#grid .photo")
        page.wait_for(f"document.getElementById('title').textContent === 'like {cat_id}'")
        paths = page.wait_for("(() => {const p = [...document.querySelectorAll('#grid .path')]"
                              ".map(e => e.textContent); return p.length ? p : null;})()")
        assert len(paths) == 4 and not any(p.endswith("chelsea.png") for p in paths)

        root = page.send("DOM.getDocument")["root"]["nodeId"]
        node = page.send("DOM.querySelector", nodeId=root, selector="#file")["nodeId"]
        page.send("DOM.setFileInputFiles", nodeId=node, files=[str(IMAGES / "coffee.png")])
        top = page.wait_for("document.querySelector('#labels td')?.textContent")
        assert top == "espresso"
        assert page.js("document.querySelectorAll('#labels meter').length") == 5
        page.wait_for("[...document.querySelectorAll('#grid img')].every(i => i.complete && i.naturalWidth > 0)")

        shot = tmp_path / "serve-page.png"
        shot.write_bytes(base64.b64decode(page.send("Page.captureScreenshot", format="png")["data"]))
        assert shot.read_bytes().startswith(b"\x89PNG")
        if artefacts := os.environ.get("ZSCLF_ARTEFACTS"):
            shutil.copy(shot, Path(artefacts) / shot.name)
        print(f"screenshot: {shot}")
    finally:
        browser.close()
