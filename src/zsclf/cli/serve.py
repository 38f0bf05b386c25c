"""`zsclf serve`: a local web page and JSON API over warm models (extra `serve`)."""

from __future__ import annotations

from typing import Annotated

import typer

from . import options as opt
from .terminal import note


def serve(
    db: opt.Db = None,
    index: opt.Index = None,
    labels: opt.Labels = None,
    template: opt.OptionalTemplate = None,
    label_prior: opt.LabelPrior = "auto",
    host: Annotated[str, typer.Option("--host", help="Address to listen on; anything but loopback needs --token or --unsafe-no-auth.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port (0: any free one, printed at start).")] = 8765,
    token: Annotated[str | None, typer.Option("--token", envvar="ZSCLF_SERVE_TOKEN", help="Require `Authorization: Bearer TOKEN` on the API (at least 16 characters).")] = None,
    unsafe_no_auth: Annotated[bool, typer.Option("--unsafe-no-auth", help="Listen beyond loopback without a token: anyone who can connect may use it.")] = False,
    top_k: opt.TopK = 5,
    hedge: opt.Hedge = None,
    queue: Annotated[int, typer.Option("--queue", min=0, max=1024, help="Requests that may wait for the models; more get 503.")] = 16,
    threads: opt.Threads = None,
    model: opt.Model = None,
) -> None:
    """Serve a web page and JSON API: classify uploaded photos, search a collection (--db)."""
    from ..serve.engine import Engine, EngineConfig
    from ..serve.server import check_exposure, listening_socket, require_extra
    from ..serve.server import serve as run_server

    require_extra()
    check_exposure(host, token, unsafe_no_auth)
    config = opt.classifier_config(labels, template, label_prior, index=index, image_model=model,
                                   threads=opt.clamped_threads(threads), max_k=100, hedge=hedge)
    engine = Engine(EngineConfig(classifier=config, db=db, top_k=top_k, queue=queue))
    sock = listening_socket(host, port)
    engine.start()
    run_server(engine, sock, token, announce=lambda url: note(f"serving on {url} (Ctrl-C stops)"))
