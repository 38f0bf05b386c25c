"""Running commands for the report: subprocesses whose JSON output is cached under their full argv."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

Execute = Callable[[list[str]], subprocess.CompletedProcess]


class ReportError(RuntimeError):
    """A command the report depends on failed, or its output was not what we expect."""


def log(message: str) -> None:
    """Progress on stderr (stdout stays free)."""
    print(f"[make_report] {message}", file=sys.stderr, flush=True)


def rel(path: Path) -> str:
    """A path as shown in the report and passed to commands: relative to the repository root when it
    lies beside it (`labels/...`, `../shared/data/...`), else absolute (a temp folder)."""
    path = Path(path).resolve()
    return os.path.relpath(path, ROOT) if path.is_relative_to(ROOT.parent) else str(path)


def git(*args: str) -> str:
    """Output of a git command in the repository, stripped ('' if git is unavailable)."""
    proc = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
    return proc.stdout.strip() if proc.returncode == 0 else ""


def python_argv(argv: Sequence[str]) -> list[str]:
    """`zsclf ARGS` -> this interpreter's `-m zsclf.cli ARGS`; `SCRIPT ARGS` -> this interpreter's `SCRIPT ARGS`."""
    if argv[0] == "zsclf":
        return [sys.executable, "-m", "zsclf.cli", *argv[1:]]
    return [sys.executable, *argv]


def execute(argv: list[str]) -> subprocess.CompletedProcess:
    """Run argv in the repository root, capturing its output."""
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False)


def parse_output(shown: str, proc: subprocess.CompletedProcess) -> dict[str, Any]:
    """A command's stdout as a JSON object, or ReportError saying what came instead."""
    if not proc.stdout.strip():
        raise ReportError(f"{shown}: exit {proc.returncode} but no output (is the package being edited?)\n"
                          f"--- stderr ---\n{proc.stderr.strip()}")
    try:
        result = json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        raise ReportError(f"{shown}: stdout is not JSON ({exc})\n--- stdout ---\n{proc.stdout[:2000]}\n"
                          f"--- stderr ---\n{proc.stderr.strip()}") from None
    if not isinstance(result, dict):
        raise ReportError(f"{shown}: expected a JSON object, got {type(result).__name__}")
    return result


class Runner:
    """Runs commands once each: the cache key is the complete argv, so no two option sets can share a result."""

    def __init__(self, run: Execute = execute) -> None:
        self.execute = run
        self.cache: dict[tuple[str, ...], dict[str, Any]] = {}

    def run(self, argv: Sequence[str], ok_codes: tuple[int, ...] = (0,), parse_json: bool = True,
            expect: tuple[str, ...] = ()) -> dict[str, Any]:
        """The command's JSON output plus `_exit_code` and `_seconds` (only those two when not `parse_json`).

        Raises ReportError with the command's stderr when it exits with a code outside `ok_codes`,
        its stdout is not a JSON object, or one of the `expect` keys is missing or empty.
        """
        key = tuple(argv)
        if key not in self.cache:
            self.cache[key] = self._run(list(argv), ok_codes, parse_json, expect)
        return self.cache[key]

    def _run(self, argv: list[str], ok_codes: tuple[int, ...], parse_json: bool,
             expect: tuple[str, ...]) -> dict[str, Any]:
        shown = " ".join(argv[1:] if argv[0] == sys.executable else argv)
        log(f"run: {shown}")
        start = time.perf_counter()
        proc = self.execute(argv)
        seconds = time.perf_counter() - start
        log(f"  exit {proc.returncode} after {seconds:.1f} s")
        if proc.returncode not in ok_codes:
            raise ReportError(f"command failed (exit {proc.returncode}): {shown}\n"
                              f"--- stderr ---\n{proc.stderr.strip()}")
        result = parse_output(shown, proc) if parse_json else {}
        for needed in expect:
            if result.get(needed) in (None, [], {}):
                raise ReportError(f"{shown}: JSON has no {needed!r}")
        return {**result, "_exit_code": proc.returncode, "_seconds": seconds}
