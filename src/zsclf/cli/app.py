"""The `zsclf` command line: a thin Typer layer over the library, one module per command.

Exit codes: 0 success; 1 some inputs failed (the rest were processed); 2 usage error or an
unusable model/index/file, with a one-line message saying how to fix it. The library raises
`ZsclfError`; it is translated here, once.
"""

from __future__ import annotations

import os
import sys
from importlib import import_module
from typing import Annotated

import typer

from ..errors import ZsclfError
from ..version import __version__
from .terminal import error

COMMANDS = {  # command name -> "module:function" in zsclf.cli
    "predict": "predict:predict", "build-index": "build_index:build_index", "eval": "evaluate:evaluate",
    "eval-retrieval": "eval_retrieval:eval_retrieval", "train": "train:train", "benchmark": "benchmark:benchmark",
    "info": "info:info", "photos": "photos:photos", "search": "search:search", "batch": "batch:batch",
    "setup": "setup:setup", "calibrate": "calibrate:calibrate", "serve": "serve:serve",
}

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Zero-shot image classification over tens of thousands of labels (ConSE/DeViSE).")


def register(names: list[str] | None = None) -> typer.Typer:
    """Add commands to `app` (all, or just `names`): Typer inspects every option of every registered command
    at start-up, so a run that names its command registers only that one (measured: ~20 ms less per start)."""
    for name in names or list(COMMANDS):
        module, function = COMMANDS[name].split(":")
        app.command(name)(getattr(import_module(f".{module}", __package__), function))
    return app


def _version(value: bool) -> None:
    if value:
        print(f"zsclf {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Zero-shot image classification over tens of thousands of labels."""


INTERNAL_ERROR = 70  # EX_SOFTWARE: a bug in zsclf, not in the input


def main() -> None:
    """Console-script entry point: run a command, turning the library's errors into one line and exit 2.

    Anything else that escapes is a bug: one line saying so (exit 70), the traceback only with
    ZSCLF_DEBUG=1.
    """
    if sys.stdout is not None and hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(errors="backslashreplace")  # paths that are not UTF-8 never crash a report
    named = sys.argv[1] if len(sys.argv) > 1 else ""
    register([named] if named in COMMANDS and "--help" not in sys.argv[2:] else None)
    try:
        app()
    except ZsclfError as exc:
        error(str(exc))
        sys.exit(2)
    except Exception as exc:
        if os.environ.get("ZSCLF_DEBUG"):
            raise
        error(f"internal error ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
              "this is a bug in zsclf: please report it (ZSCLF_DEBUG=1 shows the traceback)")
        sys.exit(INTERNAL_ERROR)
