"""`zsclf serve` (issue 19): the JSON API through an HTTP client, hostile requests included, and the CLI's
refusals. The browser test of the page is tests/test_serve_browser.py."""

from __future__ import annotations

import json
import os
import struct
import threading
import zlib
from types import SimpleNamespace

import pytest

from conftest import IMAGES, run_cli

pytest.importorskip("starlette", reason="the serve extra is not installed: pip install 'zsclf[serve]'")
pytest.importorskip("httpx", reason="httpx (the dev extra) is needed by Starlette's test client")

from starlette.testclient import TestClient  # noqa: E402

from zsclf.serve.app import MAX_UPLOAD_BYTES, make_app  # noqa: E402
from zsclf.serve.engine import Engine, EngineConfig  # noqa: E402

TOKEN = "s3cret-token-for-tests-0123456789"


@pytest.fixture(scope="module")
def engine(models_ready, default_index, tmp_path_factory):
    from zsclf.pipeline.classifier import ClassifierConfig

    db = tmp_path_factory.mktemp("serve") / "photos.db"
    run_cli("photos", str(IMAGES), "--db", str(db), "-q", expect=0)
    engine = Engine(EngineConfig(classifier=ClassifierConfig(max_k=100), db=db))
    engine.start()
    yield engine
    engine.close()


@pytest.fixture()
def client(engine):
    with TestClient(make_app(engine), base_url="http://127.0.0.1") as client:
        yield client


def _error(response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) <= {"error", "path"} and "\n" not in body["error"] and "Traceback" not in body["error"]
    return body["error"]


def test_predict_answers_what_one_predict_jsonl_line_says(client):
    cli = json.loads(run_cli("predict", str(IMAGES / "chelsea.png"), "-k", "5", "-f", "jsonl", expect=0).stdout)
    response = client.post("/v1/predict", content=(IMAGES / "chelsea.png").read_bytes())
    assert response.status_code == 200
    assert response.json() == {**cli, "path": "upload"}
    assert len(client.post("/v1/predict?k=2", content=(IMAGES / "coffee.png").read_bytes()).json()["predictions"]) == 2


def _png_header(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


@pytest.mark.parametrize(("body", "message"), [
    (b"%PDF-1.4 not an image", "upload: not an image Pillow can read"),
    (b"", "upload: empty file (0 bytes)"),
    (_png_header(12_000, 12_000), "upload: image too large (12000x12000 pixels, limit 100000000)"),
    (_png_header(200_000, 200_000), "upload: refused as a decompression bomb"),
], ids=["pdf", "empty", "too-many-pixels", "bomb"])
def test_uploads_that_are_not_photos_are_one_line_400s(client, body, message):
    assert _error(client.post("/v1/predict", content=body), 400).startswith(message)


def test_uploads_over_the_limit_are_refused_with_413(client):
    big = b"\xff" * (MAX_UPLOAD_BYTES + 1)
    assert "larger than 20 MB" in _error(client.post("/v1/predict", content=big), 413)

    def chunks():  # no Content-Length: refused while it is read
        for _ in range(MAX_UPLOAD_BYTES // (1 << 20) + 2):
            yield b"\0" * (1 << 20)

    assert "larger than 20 MB" in _error(client.post("/v1/predict", content=chunks()), 413)
    _error(client.post("/v1/predict", content=b"x", headers={"content-length": "-5"}), 413)


def _read_response(conn) -> str:
    """One whole HTTP response (headers and the body its content-length gives), however the segments arrive."""
    data = b""
    while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < int(
            next((line.split(b":")[1] for line in data.split(b"\r\n") if line.lower().startswith(b"content-length:")),
                 b"0")):
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    return data.decode("latin-1")


def test_a_trickled_upload_is_cut_off_with_408(monkeypatch):
    """Over a real socket (the test client buffers bodies): a client that sends part of its body and waits
    gets 408 after UPLOAD_SECONDS and gives its place back."""
    import socket
    import time

    import uvicorn

    import zsclf.serve.app as app
    from zsclf.serve.server import listening_socket

    monkeypatch.setattr(app, "UPLOAD_SECONDS", 0.3)
    engine = Engine(EngineConfig(classifier=None, queue=0), classifier=_Blocking())
    sock = listening_socket("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(make_app(engine), log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        with socket.create_connection(sock.getsockname()[:2], timeout=30) as conn:
            conn.sendall(b"POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\n\x89PNG")
            answer = _read_response(conn)
        assert answer.startswith("HTTP/1.1 408") and "longer than 0.3 s" in answer
        assert engine.pending == 0
    finally:
        server.should_exit = True
        thread.join(30)
        engine.close()


def test_search_by_text_and_like_a_photo_by_id(client):
    hits = client.get("/v1/search", params={"q": "a photo of a cat", "k": 3}).json()
    assert hits["query"] == "a photo of a cat" and len(hits["results"]) == 3
    cat = hits["results"][0]
    assert cat["path"].endswith("chelsea.png") and isinstance(cat["id"], int)
    like = client.get("/v1/search", params={"like": cat["id"], "k": 10}).json()
    assert like["query"] == f"like {cat['id']}" and cat["id"] not in [h["id"] for h in like["results"]]
    plus = client.get("/v1/search", params=[("q", "a drink"), ("plus", "coffee"), ("minus", "rocket")]).json()
    assert plus["results"][0]["path"].endswith("coffee.png") and plus["query"] == "a drink + coffee - rocket"


@pytest.mark.parametrize("params", [{}, {"q": "cat", "k": "0"}, {"q": "cat", "k": "abc"}, {"q": "cat", "k": "101"},
                                    {"like": "../1"}, {"like": "1 OR 1=1"}, {"q": "x" * 1001}, {"q": "   "}])
def test_bad_searches_are_one_line_400s(client, params):
    _error(client.get("/v1/search", params=params), 400)


def test_thumbnails_by_collection_id_only(client):
    response = client.get("/v1/photos/1/thumbnail")
    assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
    assert response.content.startswith(b"\xff\xd8") and len(response.content) < 64_000
    assert client.get("/v1/photos/1/thumbnail").content == response.content  # from the cache
    assert "no such photo" in _error(client.get("/v1/photos/99999/thumbnail"), 404)


@pytest.mark.parametrize("photo", ["..", "%2e%2e", "..%2f..%2fetc%2fpasswd", "%2fetc%2fpasswd", "-1", "1.0", "abc",
                                   "1%00", "0x1", "1e3", "%20%201", "99999999999999999999"])
def test_hostile_photo_ids_never_reach_a_file(client, photo, monkeypatch):
    import zsclf.pipeline.thumbnails as thumbnails

    monkeypatch.setattr(thumbnails, "load_image", lambda *a, **k: pytest.fail(f"{photo} read a file"))
    response = client.get(f"/v1/photos/{photo}/thumbnail")
    assert response.status_code in (400, 404) and response.headers["content-type"] == "application/json"
    assert "error" in response.json()


def test_absolute_and_dotted_paths_are_not_routes(client):
    for path in ("/v1/photos//etc/passwd/thumbnail", "/../../etc/passwd", "/v1/photos/1/../../../etc/passwd",
                 "/static/../../pyproject.toml", "/page.js/../app.py"):
        response = client.get(path)
        assert response.status_code == 404 and "root:" not in response.text, path


def test_security_headers_no_cors_and_json_errors_everywhere(client):
    response = client.get("/v1/search", params={"q": "cat"}, headers={"Origin": "https://evil.example"})
    assert response.status_code == 200 and "access-control-allow-origin" not in response.headers
    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    preflight = client.options("/v1/predict", headers={"Origin": "https://evil.example",
                                                        "Access-Control-Request-Method": "POST"})
    assert preflight.status_code == 405 and "access-control-allow-origin" not in preflight.headers
    _error(client.get("/no/such/page"), 404)
    page = client.get("/")
    assert page.status_code == 200 and "<script src=\"/page.js\"" in page.text and "http" not in page.text.lower()
    assert client.get("/healthz").json()["photos"] == 5
    assert set(client.get("/openapi.json").json()["paths"]) >= {"/v1/predict", "/v1/search", "/healthz",
                                                                 "/v1/photos/{id}/thumbnail"}


def test_a_foreign_host_name_is_refused(client):
    assert "Host" in _error(client.get("/healthz", headers={"Host": "attacker.example:8765"}), 400)


def test_the_token_is_needed_on_the_api(engine):
    with TestClient(make_app(engine, token=TOKEN, loopback_only=False)) as client:
        assert client.get("/healthz").status_code == 200 and client.get("/").status_code == 200
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN},
                        {"Authorization": f"Bearer {TOKEN}x"}):
            assert "bearer token" in _error(client.get("/v1/search?q=cat", headers=headers), 401)
            _error(client.post("/v1/predict", content=b"x", headers=headers), 401)
        ok = client.get("/v1/search?q=cat", headers={"Authorization": f"Bearer {TOKEN}"})
        assert ok.status_code == 200


class _Blocking:
    """A classifier stand-in whose predictions wait until released (to fill the queue on purpose)."""

    def __init__(self) -> None:
        self.started, self.release = threading.Event(), threading.Event()

    def predict_bytes(self, data, name, top_k):
        self.started.set()
        assert self.release.wait(30)
        if data == b"boom":
            raise RuntimeError("secret internals /etc/x")
        return SimpleNamespace(record=lambda: {"path": name, "predictions": []})


def test_a_full_queue_answers_503_and_a_crash_is_a_json_500():
    fake = _Blocking()
    engine = Engine(EngineConfig(classifier=None, queue=0), classifier=fake)
    with TestClient(make_app(engine), base_url="http://127.0.0.1", raise_server_exceptions=False) as client:
        first = {}
        worker = threading.Thread(target=lambda: first.update(r=client.post("/v1/predict", content=b"a")))
        worker.start()
        assert fake.started.wait(30)
        busy = client.post("/v1/predict", content=b"b")
        assert "busy" in _error(busy, 503) and busy.headers["retry-after"] == "1"
        fake.release.set()
        worker.join(30)
        assert first["r"].status_code == 200
        assert client.post("/v1/predict", content=b"c").status_code == 200  # the place was given back
        crash = client.post("/v1/predict", content=b"boom")
        assert _error(crash, 500) == "internal error (RuntimeError); see the server's log"
    engine.close()


@pytest.mark.parametrize(("args", "message"), [
    (["--host", "0.0.0.0"], "--host 0.0.0.0 lets other machines reach the server: give --token"),
    (["--host", "192.0.2.1", "--token", "short"], "--token must be at least 16 characters"),
])
def test_serve_refuses_to_listen_beyond_loopback_without_a_token(args, message):
    proc = run_cli("serve", *args, expect=2)
    assert message in proc.stderr and proc.stdout == ""


def test_the_listening_socket_is_tcp_and_a_taken_port_is_one_line():
    """asyncio turns Nagle off only on sockets created as TCP: with proto 0 each keep-alive request waited for
    the client's delayed ACK (~40 ms, measured with benchmarks/serve_bench.py)."""
    import socket

    from zsclf.errors import ZsclfError
    from zsclf.serve.server import listening_socket

    sock = listening_socket("127.0.0.1", 0)
    try:
        assert sock.proto == socket.IPPROTO_TCP
        with pytest.raises(ZsclfError, match=r"cannot listen on 127\.0\.0\.1:\d+ .*choose another --host or --port"):
            listening_socket("127.0.0.1", sock.getsockname()[1])
    finally:
        sock.close()


def test_only_collection_photos_are_served_never_what_links_lead_to(models_ready, default_index, tmp_path):
    """A folder link out of the root is not walked, so its photos are not served; a file link whose target is no
    photo (a secret text file) gives an error, never its bytes; a path that is not UTF-8 comes as in `predict`'s
    JSON (a surrogate escape)."""
    from zsclf.pipeline.classifier import ClassifierConfig

    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "cat.png").write_bytes((IMAGES / "chelsea.png").read_bytes())
    (root / os.fsdecode(b"caf\xe9.png")).write_bytes((IMAGES / "chelsea.png").read_bytes())  # not UTF-8
    (outside / "coffee.png").write_bytes((IMAGES / "coffee.png").read_bytes())
    (outside / "secret.txt").write_text("TOP-SECRET")
    (root / "elsewhere").symlink_to(outside, target_is_directory=True)
    (root / "secret.jpg").symlink_to(outside / "secret.txt")
    db = tmp_path / "photos.db"
    run_cli("photos", str(root), "--db", str(db), "-q", expect=1)  # secret.jpg is no image
    engine = Engine(EngineConfig(classifier=ClassifierConfig(hedge=0.9), db=db))
    engine.start()
    try:
        with TestClient(make_app(engine), base_url="http://127.0.0.1") as client:
            hedged = client.post("/v1/predict", content=(IMAGES / "coffee.png").read_bytes()).json()["hedged"]
            assert set(hedged) == {"label", "id", "probability", "depth"}  # --hedge: as in predict's JSONL
            hits = client.get("/v1/search", params={"q": "a cup of coffee", "k": 100}).json()["results"]
            assert sorted(h["path"] for h in hits) == [str(root / "caf\udce9.png"), str(root / "cat.png")]
            served = [client.get(f"/v1/photos/{i}/thumbnail") for i in range(1, 7)]
            assert [r.status_code for r in served].count(200) == 2
            assert not any(b"TOP-SECRET" in r.content for r in served)
    finally:
        engine.close()


def test_serve_uses_the_index_and_model_it_is_given(tmp_path):
    """--index and --model reach the classifier (serve took the default index whatever --index said before)."""
    missing = tmp_path / "missing.index"
    done = run_cli("serve", "--index", str(missing), "--port", "0", expect=2)
    assert f"{missing}: no index there" in done.stderr
    assert "unknown image model 'nosuch'" in run_cli("serve", "--model", "nosuch", "--port", "0", expect=2).stderr
