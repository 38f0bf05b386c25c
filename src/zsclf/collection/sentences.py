"""Sentences into a collection's space (kept apart from the photo side, so that `zsclf search` never
imports the image pipeline)."""

from __future__ import annotations

import numpy as np

from ..core.device import SessionConfig
from ..core.vectors import normalize
from ..errors import ZsclfError
from ..models.text_encoder import TextEncoder
from .store import CollectionSetup


class SentenceEmbedder:
    """The collection's text encoder: sentences -> normalised vectors in its space."""

    def __init__(self, setup: CollectionSetup) -> None:
        # one short sentence at a time: one thread, light graph optimisation (a quick start matters more)
        self.encoder = TextEncoder.load(setup.text_encoder.name, SessionConfig("cpu", 1, optimization="basic"))
        if self.encoder.sha256 != setup.text_encoder.sha256:
            raise ZsclfError(f"this collection lives in the space of text model {setup.text_encoder.name} "
                             f"(sha256 {setup.text_encoder.sha256[:12]}), not the one installed: "
                             "make a new collection (--db)")

    def embed(self, texts: list[str]) -> np.ndarray:
        return normalize(self.encoder.embed(texts))
