"""The label text embedder: all-MiniLM-L6-v2 in ONNX Runtime with a `tokenizers` tokenizer."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ..core.device import SessionConfig, create_session
from .registry import ModelRef, ModelSpec, model_spec

MAX_TOKENS = 256


class TextEncoder:
    """Sentence embeddings (L2-normalised, mean-pooled) for label texts."""

    def __init__(self, spec: ModelSpec, config: SessionConfig | None = None) -> None:
        from tokenizers import Tokenizer

        self.spec = spec
        self.tokenizer = Tokenizer.from_file(str(spec.sibling(spec.entry.tokenizer, "the tokenizer")))
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # pad to the longest in the batch
        self.tokenizer.enable_truncation(max_length=spec.entry.max_tokens or MAX_TOKENS)
        self.session, self.device = create_session(str(spec.path), config or SessionConfig())
        self.dim = spec.output_dim("embedding")

    @classmethod
    def load(cls, name: str | None = None, config: SessionConfig | None = None,
             models_dir: Path | None = None) -> TextEncoder:
        """Load the text model from the registry (default: all-MiniLM-L6-v2)."""
        return cls(model_spec(name, "text", models_dir), config)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def sha256(self) -> str:
        return self.spec.sha256

    @property
    def ref(self) -> ModelRef:
        """What an index or projection records about this encoder."""
        return self.spec.ref("embedding")

    def _embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(list(texts))
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        (embedding,) = self.session.run(["embedding"], {"input_ids": ids, "attention_mask": mask})
        return embedding

    def embed(self, texts: Sequence[str], batch_size: int = 32,
              progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Embed texts in length-sorted batches (less padding; 32 measured ~10% faster than 128 here);
        rows come back in input order; `progress(n)` is called after each batch."""
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            out[chunk] = self._embed_batch([texts[i] for i in chunk])
            if progress:
                progress(len(chunk))
        return out
