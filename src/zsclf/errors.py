"""The library's own errors. The CLI translates them once (in `zsclf.cli.app.main`) into a one-line
message and an exit code; library users catch `ZsclfError`."""

from __future__ import annotations


class ZsclfError(Exception):
    """A usage or set-up problem (bad option, missing model, unusable index or file): exit code 2."""


class ImageError(ZsclfError):
    """One input image could not be read; in a batch the rest goes on (exit code 1 at the end)."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason
