"""Everything the CLI says on stderr: notes, one-line errors and progress bars (results alone go to stdout).

Messages never fall back to stdout: with stderr closed (`2>&-`) they are dropped, not mixed into
the results.
"""

from __future__ import annotations

import io
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from ..errors import ZsclfError

PREFIX = "zsclf"


def say(message: str) -> None:
    """Write one line to stderr, if there is a stderr to write to."""
    stream = sys.stderr
    if stream is None:
        return
    try:
        stream.write(f"{message}\n")
        stream.flush()
    except (OSError, ValueError):  # closed or broken stderr: nothing better to do
        pass


def note(message: str) -> None:
    """An informational line: `zsclf: message`."""
    say(f"{PREFIX}: {message}")


def error(message: str) -> None:
    """An error line: `zsclf: error: message`."""
    say(f"{PREFIX}: error: {message}")


def write_stdout(text: str) -> None:
    """Write a report to stdout; a stdout that is closed or cannot take it (full disk) is a ZsclfError."""
    if sys.stdout is None:
        raise ZsclfError("cannot write to stdout: it is closed")
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise ZsclfError(f"cannot write to stdout: {exc.strerror or exc}") from None


def plain(value: object) -> str:
    """`value` (a path, label, query, message: anything the user chose) as Rich markup that shows it verbatim:
    its square brackets are not tags, so `[/]` or `[bold]` in a name neither crashes nor styles a report."""
    from rich.markup import escape

    return escape(str(value))


@contextmanager
def stdout_console(**options) -> Iterator:
    """A Rich console whose output goes to stdout (through `write_stdout`) when the block ends;
    colours and the terminal's width only when stdout is a terminal; `:name:` in a path is never an emoji."""
    from rich.console import Console

    tty = sys.stdout is not None and sys.stdout.isatty()
    buffer = io.StringIO()
    width = shutil.get_terminal_size().columns if tty else 120
    yield Console(file=buffer, force_terminal=tty, no_color=not tty, width=width, emoji=False, **options)
    write_stdout(buffer.getvalue())


def stderr_console():
    """A Rich console on stderr."""
    from rich.console import Console

    return Console(stderr=True, emoji=False)


class ProgressBars:
    """A `core.progress.Progress` drawn as Rich bars on stderr (one per task), or nothing when quiet.

    Use as a context manager: `with ProgressBars(quiet, "items") as progress: library_call(progress=progress)`.
    """

    def __init__(self, quiet: bool, unit: str) -> None:
        self.unit = unit
        self.bars = None if quiet or sys.stderr is None else self._make_bars()
        self.tasks: dict[str, int] = {}

    def _make_bars(self):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        unit = self.unit

        class Rate(TextColumn):
            def render(self, task):
                speed = task.finished_speed or task.speed
                return super().render(task) if speed is None else f"{speed:,.0f} {unit}/s"

        return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), Rate(""),
                        TimeElapsedColumn(), console=stderr_console(), redirect_stdout=False,
                        redirect_stderr=False, transient=False)

    def __enter__(self):
        return None if self.bars is None else self

    def __exit__(self, *exc) -> None:
        if self.bars is not None and self.tasks:
            self.bars.stop()

    def line(self, message: str) -> None:
        """A stderr line (`zsclf: …`) printed above the bars while they are drawn, so that neither garbles the other."""
        if self.bars is not None and self.tasks:
            self.bars.console.print(f"{PREFIX}: {message}", markup=False, highlight=False, soft_wrap=True)
        else:
            say(f"{PREFIX}: {message}")

    def __call__(self, task: str, completed: int, total: int, note: str = "") -> None:
        assert self.bars is not None
        if not self.tasks:
            self.bars.start()  # only once there is work to show: an early error leaves stderr clean
        if task not in self.tasks:
            self.tasks[task] = self.bars.add_task(task, total=total)
        description = plain(f"{task}: {note}" if note else task)
        self.bars.update(self.tasks[task], completed=completed, total=total, description=description)
