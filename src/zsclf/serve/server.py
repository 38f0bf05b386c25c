"""Starting `zsclf serve`: who may be reached (loopback unless a token or an explicit unsafe flag), then uvicorn."""

from __future__ import annotations

import ipaddress
import socket

from ..errors import ZsclfError
from .engine import Engine

MAX_CONNECTIONS = 64  # uvicorn answers 503 beyond this many open connections


def is_loopback(host: str) -> bool:
    """True for names and addresses that only this machine can reach."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def require_extra() -> None:
    """The serve extra is installed, or one line saying how to install it (before any model loads)."""
    import importlib.util

    if not all(importlib.util.find_spec(name) for name in ("starlette", "uvicorn")):
        raise ZsclfError("zsclf serve needs its extra: pip install 'zsclf[serve]'")


def check_exposure(host: str, token: str | None, unsafe_no_auth: bool) -> None:
    """Refuse, before anything loads, to listen beyond loopback without a token or the explicit unsafe flag."""
    if token is not None and len(token) < 16:
        raise ZsclfError("--token must be at least 16 characters (e.g. `python -c 'import secrets; "
                         "print(secrets.token_urlsafe())'`)")
    if not is_loopback(host) and token is None and not unsafe_no_auth:
        raise ZsclfError(f"--host {host} lets other machines reach the server: give --token TOKEN (clients send "
                         "Authorization: Bearer TOKEN), or --unsafe-no-auth to serve anyone who can connect")


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket bound and listening on host:port (port 0: any free port), or one ZsclfError line saying why not."""
    sock = None
    try:
        info = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        # proto IPPROTO_TCP, not 0: asyncio turns Nagle off only on sockets that say they are TCP (measured: with
        # proto 0 every keep-alive request waited ~40 ms for the client's delayed ACK)
        sock = socket.socket(info[0], info[1], info[2])
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(info[4])
        sock.listen(128)
    except OSError as exc:
        if sock is not None:
            sock.close()
        raise ZsclfError(f"cannot listen on {host}:{port} ({exc.strerror or exc}): "
                         "choose another --host or --port") from None
    return sock


def serve(engine: Engine, sock: socket.socket, token: str | None = None, announce=None) -> None:
    """Serve on `sock` until interrupted (the models are already warm in `engine`); `announce(url)` is called
    once the server listens."""
    import uvicorn

    from .app import make_app

    host, port = sock.getsockname()[:2]
    app = make_app(engine, token, loopback_only=is_loopback(host))
    config = uvicorn.Config(app, log_level="warning", access_log=False, server_header=False,
                            limit_concurrency=MAX_CONNECTIONS, timeout_keep_alive=5, lifespan="off")
    if announce is not None:
        announce(f"http://{f'[{host}]' if ':' in host else host}:{port}/")
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        engine.close()
