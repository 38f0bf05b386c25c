"""The library's own errors. The CLI translates them once (in `zsclf.cli.app.main`) into a one-line
message and an exit code; library users catch `ZsclfError`."""

from __future__ import annotations

import math


class ZsclfError(Exception):
    """A usage or set-up problem (bad option, missing model, unusable index or file): exit code 2."""


class ImageError(ZsclfError):
    """One input image could not be read; in a batch the rest goes on (exit code 1 at the end)."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason



def check_number(option: str, value: float | None, *, above: float | None = None, at_least: float | None = None,
                 at_most: float | None = None) -> None:
    """Refuse a numeric option (None: not given) that is NaN, infinite or out of bounds, before any work, in one
    line naming it: `--weight must be a finite number > 0 and <= 100, not inf`."""
    if value is None:
        return
    limits = [(above, ">", value > above if above is not None else True),
              (at_least, ">=", value >= at_least if at_least is not None else True),
              (at_most, "<=", value <= at_most if at_most is not None else True)]
    if not math.isfinite(value) or not all(ok for _, _, ok in limits):
        bounds = " and ".join(f"{sign} {limit:g}" for limit, sign, _ in limits if limit is not None)
        raise ZsclfError(f"{option} must be a finite number{' ' + bounds if bounds else ''}, not {value:g}")
