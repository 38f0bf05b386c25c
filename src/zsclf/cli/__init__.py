"""The command-line face of zsclf: `app` (commands and error translation), one module per command,
shared `options`, `render` (result writers), `reports` (eval/benchmark/info for people) and
`terminal` (stderr: notes, errors, progress). Imports the library; nothing imports it."""

from .app import app, main, register

__all__ = ["app", "main", "register"]
