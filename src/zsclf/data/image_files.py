"""Finding image files: known extensions, sorted recursive folder walks, and the CLI's inputs
(files as given, folders walked, `-` for one path per line on stdin)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".gif", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm", ".jfif"}
) | frozenset({".heic", ".heif", ".hif"})  # HEIC/HEIF: read through the optional `heif` extra (data.heif)


def is_image_name(name: str) -> bool:
    """True when a file name has a known image extension."""
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def is_image_path(path: Path) -> bool:
    """True when the file name has a known image extension."""
    return is_image_name(path.name)


def walk_images(folder: Path) -> Iterator[Path]:
    """Image files under `folder`, recursively, in sorted order (directories before deeper files by name)."""
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            path = Path(root) / name
            if is_image_path(path):
                yield path


def stdin_paths(lines: Iterable[bytes | str] | None = None) -> Iterator[str]:
    """One path per line of stdin (read as bytes: a path that is not valid UTF-8 keeps its bytes, as
    surrogate escapes, like a path given as an argument); blank lines are skipped."""
    if lines is None:
        lines = sys.stdin.buffer if sys.stdin is not None else ()
    for raw in lines:
        line = os.fsdecode(raw) if isinstance(raw, bytes) else raw
        line = line.rstrip("\r\n")
        if line.strip():
            yield line


def expand_inputs(inputs: Iterable[str], stdin: Iterable[bytes | str] | None = None) -> Iterator[str]:
    """Expand CLI inputs lazily: files as given, folders walked, `-` reads one path per line from stdin."""
    for item in inputs:
        if item == "-":
            yield from stdin_paths(stdin)
        elif os.path.isdir(item):
            yield from (str(p) for p in walk_images(Path(item)))
        else:
            yield item
