"""The HTTP face of `zsclf serve` (Starlette): the page, the JSON API and the guards around both.

Guards: a bearer token compared in constant time (when one is set) on every API path; the Host header
checked against loopback names when bound to loopback (a page elsewhere cannot rebind its name to us);
request bodies read up to MAX_UPLOAD_BYTES; photos by collection id only; every answer with a restrictive
Content-Security-Policy and no CORS headers; errors as `{"error": "..."}` with no stack trace.
"""

from __future__ import annotations

import hmac
import json
import re
from importlib import resources

import anyio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..errors import ZsclfError
from .engine import MAX_K, Busy, Engine, NotFound
from .openapi import openapi

MAX_UPLOAD_BYTES = 20 << 20
UPLOAD_SECONDS = 30.0
MAX_QUERY_CHARS = 1000
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; connect-src 'self'; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
SECURITY_HEADERS = [(b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"), (b"x-frame-options", b"DENY"),
                    (b"cross-origin-resource-policy", b"same-origin"), (b"cache-control", b"no-store")]
PHOTO_ID = re.compile(r"[0-9]{1,15}")
STATIC = {"/": ("page.html", "text/html; charset=utf-8"), "/page.js": ("page.js", "text/javascript; charset=utf-8"),
          "/page.css": ("page.css", "text/css; charset=utf-8")}


class Json(JSONResponse):
    """JSON with every non-ASCII character escaped: a path that is not UTF-8 (surrogate escapes, as `predict`
    writes them) is sent as `\\udcXX`, never a 500."""

    def render(self, content) -> bytes:
        return json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode("ascii")


def error(status: int, message: str) -> JSONResponse:
    return Json({"error": message}, status_code=status)


class Guard:
    """ASGI middleware: Host check, bearer token on the API, security headers on every answer."""

    def __init__(self, app, token: str | None, hosts: tuple[str, ...] | None) -> None:
        self.app, self.token, self.hosts = app, token.encode() if token else None, hosts

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])

        async def secured(message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        refusal = self.refusal(scope["path"], headers)
        if refusal is not None:
            return await refusal(scope, receive, secured)
        await self.app(scope, receive, secured)

    def refusal(self, path: str, headers: dict[bytes, bytes]) -> Response | None:
        if self.hosts is not None and host_name(headers.get(b"host", b"").decode("latin-1")) not in self.hosts:
            return error(400, "unexpected Host header: this server answers to its loopback address only")
        if self.token is not None and path not in STATIC and path != "/healthz":
            given = headers.get(b"authorization", b"")
            if not hmac.compare_digest(given, b"Bearer " + self.token):
                return Json({"error": "missing or wrong bearer token (Authorization: Bearer TOKEN)"},
                                    status_code=401, headers={"www-authenticate": "Bearer"})
        return None


def host_name(host: str) -> str:
    """The name in a Host header, without its port ('[::1]:8765' -> '::1')."""
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def make_app(engine: Engine, token: str | None = None, loopback_only: bool = True) -> Guard:
    """The ASGI app: routes over `engine`, wrapped in the Guard (`loopback_only`: Host must be a loopback name)."""
    pages = {path: (resources.files(__package__).joinpath("static", name).read_bytes(), kind)
             for path, (name, kind) in STATIC.items()}

    async def static(request: Request) -> Response:
        body, kind = pages[request.url.path]
        return Response(body, media_type=kind)

    async def health(request: Request) -> Response:
        return Json(engine.health())

    async def spec(request: Request) -> Response:
        return Json(openapi())

    async def predict(request: Request) -> Response:
        k = int_param(request, "k", engine.config.top_k, MAX_K)
        with engine.admitted():
            data = await read_body(request, MAX_UPLOAD_BYTES)
            record = await engine.run(engine.predict, data, k)
        return Json(record, status_code=400 if "error" in record else 200)

    async def search(request: Request) -> Response:
        q = request.query_params
        text, like = text_param(q.get("q")), q.get("like")
        if like is not None and not PHOTO_ID.fullmatch(like):
            raise ZsclfError(f"like={like[:40]!r}: a photo id is a number")
        plus, minus = [text_param(t) for t in q.getlist("plus")], [text_param(t) for t in q.getlist("minus")]
        k = int_param(request, "k", 10, MAX_K)
        with engine.admitted():
            return Json(await engine.run(engine.search, text, int(like) if like else None, plus, minus, k))

    async def thumbnail(request: Request) -> Response:
        photo = request.path_params["photo"]
        if not PHOTO_ID.fullmatch(photo):
            raise ZsclfError(f"photo id {photo[:40]!r}: a photo id is a number")
        with engine.admitted():
            data = await engine.run(engine.thumbnail, int(photo))
        return Response(data, media_type="image/jpeg")

    routes = [Route(path, static) for path in STATIC] + [
        Route("/healthz", health), Route("/openapi.json", spec), Route("/v1/predict", predict, methods=["POST"]),
        Route("/v1/search", search), Route("/v1/photos/{photo}/thumbnail", thumbnail)]
    handlers = {HTTPException: http_error, Exception: internal_error}
    app = Starlette(routes=routes, exception_handlers=handlers)
    app.add_exception_handler(ZsclfError, library_error)
    app.add_exception_handler(Busy, busy)
    return Guard(app, token, LOOPBACK_NAMES if loopback_only else None)


def int_param(request: Request, name: str, default: int, most: int) -> int:
    value = request.query_params.get(name)
    if value is None:
        return default
    if not value.isdigit() or not 1 <= int(value) <= most:
        raise ZsclfError(f"{name}={value[:40]!r}: give a whole number from 1 to {most}")
    return int(value)


def text_param(text: str | None) -> str | None:
    if text is not None and len(text) > MAX_QUERY_CHARS:
        raise ZsclfError(f"a query text is longer than {MAX_QUERY_CHARS} characters")
    return text or None


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused (413) as soon as it is known to pass `limit` bytes, or (408) when it takes
    longer than UPLOAD_SECONDS to arrive."""
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > limit):
        raise HTTPException(413, f"the upload is larger than {limit >> 20} MB")
    chunks, size = [], 0
    try:
        with anyio.fail_after(UPLOAD_SECONDS):  # a client trickling its body holds a place in the queue
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise HTTPException(413, f"the upload is larger than {limit >> 20} MB")
                chunks.append(chunk)
    except TimeoutError:
        raise HTTPException(408, f"the upload took longer than {UPLOAD_SECONDS:g} s") from None
    return b"".join(chunks)


async def http_error(request: Request, exc: HTTPException) -> Response:
    return error(exc.status_code, exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail))


async def library_error(request: Request, exc: ZsclfError) -> Response:
    return error(404 if isinstance(exc, NotFound) else 400, str(exc))


async def busy(request: Request, exc: Busy) -> Response:
    return Json({"error": str(exc)}, status_code=503, headers={"retry-after": "1"})


async def internal_error(request: Request, exc: Exception) -> Response:
    return error(500, f"internal error ({type(exc).__name__}); see the server's log")
