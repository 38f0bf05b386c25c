"""Text cleaning a text model's card asks for before its tokenizer runs (`text_clean` in the manifest).

* "clip": what OpenCLIP's tokenizer does first (ftfy's `fix_text`, HTML entities unescaped twice, runs of
  whitespace made one space, stripped, lower case), so that the `tokenizers` file of a CLIP text tower gives
  OpenCLIP's own token ids (tests/test_foreign_models.py checks it on over 1,000 strings). Needs `ftfy`.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable

from ..errors import ZsclfError

CLEANERS = ("clip",)
_SPACES = re.compile(r"\s+")


def _clip(text: str) -> str:
    import ftfy

    text = html.unescape(html.unescape(ftfy.fix_text(text)))
    return _SPACES.sub(" ", text).strip().lower()


def cleaner(name: str | None, model: str) -> Callable[[str], str] | None:
    """The cleaning function `name` names (None: the tokenizer takes texts as given); `model` for messages."""
    if name is None:
        return None
    if name != "clip":
        raise ZsclfError(f"text model {model}: unknown text_clean {name!r} (known: {', '.join(CLEANERS)})")
    try:
        import ftfy  # noqa: F401
    except ImportError:
        raise ZsclfError(f"text model {model} cleans its texts with ftfy, which is not installed: "
                         "pip install ftfy") from None
    return _clip
