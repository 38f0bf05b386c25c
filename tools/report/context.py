"""One report run: the plan's steps resolved to real paths and commands, and their results."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .output import write_atomic
from .plan import PLACEHOLDER, Build, Measure, Plan, Write
from .runner import ReportError, Runner, python_argv, rel


@dataclass
class Context:
    """Paths, the plan and the runner the sections share; `get(key)` gives a step's result."""

    data: Path
    work: Path
    out: Path
    plan: Plan
    runner: Runner = field(default_factory=Runner)
    written: dict[str, Path] = field(default_factory=dict)

    @property
    def quick(self) -> bool:
        """A `--quick` run."""
        return self.plan.quick

    @property
    def img_dir(self) -> Path:
        """Where the charts go: img/ next to the report."""
        return self.out.parent / "img"

    def argv(self, key: str) -> list[str]:
        """The complete command line of a Measure or Build step, placeholders filled in (producing what they name)."""
        step = self.step(key)
        if isinstance(step, Write):
            raise ReportError(f"plan step {key!r} writes a file; it has no command")
        out = str(self.work / step.out) if isinstance(step, Build) else ""

        def fill(match: re.Match[str]) -> str:
            name = match.group(1)
            if name == "data":
                return rel(self.data)
            if name == "out":
                return out
            return str(self.get(name))

        return python_argv([PLACEHOLDER.sub(fill, token) for token in step.argv])

    def step(self, key: str) -> Measure | Build | Write:
        """The plan's step for `key`."""
        try:
            return self.plan.steps[key]
        except KeyError:
            raise ReportError(f"the report plan has no step {key!r}") from None

    def get(self, key: str) -> Any:
        """A Measure's JSON result, or the path a Build or Write step produces (each runs at most once)."""
        step = self.step(key)
        if isinstance(step, Write):
            if key not in self.written:
                path = self.work / step.out
                write_atomic(path, step.text(self.data))
                self.written[key] = path
            return self.written[key]
        if isinstance(step, Build):
            self.runner.run(self.argv(key), parse_json=False)
            return self.work / step.out
        return self.runner.run(self.argv(key), ok_codes=step.ok_codes, expect=step.expect)
