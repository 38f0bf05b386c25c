"""Progress reporting without a user interface: the library calls a plain function, the CLI draws bars.

A `Progress` is called as `progress(task, completed, total, note)`: `task` names a stage
("embedding labels", "training"), `completed` of `total` items are done, `note` is optional
text such as the current loss. Library functions take `progress: Progress | None`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol


class Progress(Protocol):
    def __call__(self, task: str, completed: int, total: int, note: str = "") -> None: ...


def counter(progress: Progress | None, task: str, total: int) -> Callable[[int], None] | None:
    """An `advance(n)` function that reports a running count of `total` for `task` (None without progress)."""
    if progress is None:
        return None
    done = 0
    progress(task, 0, total)

    def advance(n: int) -> None:
        nonlocal done
        done += n
        progress(task, done, total)

    return advance
