"""Writing the report: section markers, `--only` splicing, atomic file replacement."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path


def marker(name: str, end: bool = False) -> str:
    """The HTML comment that opens (or closes) a section's block."""
    return f"<!-- {'/' if end else ''}section: {name} -->"


def wrap(name: str, markdown: str) -> str:
    """A section's markdown between markers, so `--only` can replace it in place later."""
    return f"{marker(name)}\n{markdown.strip()}\n{marker(name, end=True)}"


def splice(existing: str, blocks: dict[str, str]) -> str:
    """Replace the named section blocks in an existing report (appending any that are missing)."""
    for name, block in blocks.items():
        pattern = re.compile(re.escape(marker(name)) + r".*?" + re.escape(marker(name, end=True)), re.S)
        found = pattern.search(existing)
        if found:
            existing = existing[:found.start()] + block + existing[found.end():]
        else:
            existing = existing.rstrip("\n") + "\n\n" + block + "\n"
    return existing


def publish(tmp: str, path: Path) -> None:
    """Give a finished temp file ordinary permissions (mkstemp makes it 0600) and rename it over path."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    os.replace(tmp, path)


def replace_atomic(path: Path, write: Callable[[str], None], suffix: str) -> None:
    """Call `write(tmp)` on a temp file in path's folder, then rename it over path (removed on failure)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=suffix)
    os.close(handle)
    try:
        write(tmp)
        publish(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_atomic(path: Path, text: str) -> None:
    """Write text to path via a temp file in the same folder and a rename."""
    replace_atomic(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8", newline="\n"), ".tmp")
