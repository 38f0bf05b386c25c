"""Finding image files: known extensions, sorted recursive folder walks, and the CLI's inputs
(files as given, folders walked, `-` for one path per line on stdin)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".gif", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm", ".jfif"}
)


def is_image_path(path: Path) -> bool:
    """True when the file name has a known image extension."""
    return path.suffix.lower() in IMAGE_EXTENSIONS


def walk_images(folder: Path) -> Iterator[Path]:
    """Image files under `folder`, recursively, in sorted order (directories before deeper files by name)."""
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            path = Path(root) / name
            if is_image_path(path):
                yield path


def expand_inputs(inputs: Iterable[str], stdin: Iterable[str] | None = None) -> Iterator[str]:
    """Expand CLI inputs lazily: files as given, folders walked, `-` reads one path per line from stdin."""
    for item in inputs:
        if item == "-":
            for line in stdin if stdin is not None else sys.stdin:
                line = line.rstrip("\r\n")
                if line.strip():
                    yield line
        elif os.path.isdir(item):
            yield from (str(p) for p in walk_images(Path(item)))
        else:
            yield item
