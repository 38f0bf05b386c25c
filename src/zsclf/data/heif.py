"""HEIC/HEIF photos (what phones save) through the optional `heif` extra (`pip install 'zsclf[heif]'`,
which brings `pillow-heif`); without it such a file is one clear error naming the extra."""

from __future__ import annotations

import os
import threading

from ..errors import ZsclfError

HEIF_EXTENSIONS = frozenset({".heic", ".heif", ".hif"})
MISSING = "HEIC/HEIF photos need the optional extra: pip install 'zsclf[heif]' (pillow-heif)"
_lock = threading.Lock()
_state: dict[str, bool] = {}


def is_heif_name(name: str) -> bool:
    """True for a .heic/.heif/.hif file name."""
    return os.path.splitext(name)[1].lower() in HEIF_EXTENSIONS


def heif_available() -> bool:
    """Register pillow-heif's opener with Pillow (once, thread-safe); False when it is not installed."""
    with _lock:
        if "ok" not in _state:
            try:
                import pillow_heif
            except ImportError:
                _state["ok"] = False
            else:
                pillow_heif.register_heif_opener()
                _state["ok"] = True
        return _state["ok"]


def require_heif() -> None:
    """Make Pillow read HEIC/HEIF, or raise ZsclfError naming the extra."""
    if not heif_available():
        raise ZsclfError(MISSING)
