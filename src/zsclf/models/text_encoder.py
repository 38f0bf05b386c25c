"""The label text embedder: all-MiniLM-L6-v2 in ONNX Runtime with a `tokenizers` tokenizer."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..core.device import SessionConfig, create_session
from .registry import ModelRef, ModelSpec, model_spec
from .text_clean import cleaner

MAX_TOKENS = 256
BATCH_SIZE = 64  # texts per run in token-length order (measured in docs/index_build.md)
ORDERS = ("tokens", "chars", "input")  # batch order: by token count (default), by characters (before), as given


def text_device(spec: ModelSpec, requested: str) -> str:
    """Where a text model runs: as requested, except that `auto` keeps an int8 sibling on the CPU (its dynamic
    quantization kernels are ONNX Runtime CPU kernels: on CUDA its graph would be split, with copies between)."""
    return "cpu" if requested == "auto" and spec.entry.quantized else requested


class TextEncoder:
    """Sentence embeddings (L2-normalised in the graph) for label texts: all-MiniLM-L6-v2 (mean-pooled) or the
    text tower of a joint pair (the card says its inputs, fixed context length and text cleaning)."""

    def __init__(self, spec: ModelSpec, config: SessionConfig | None = None) -> None:
        from tokenizers import Tokenizer

        self.spec = spec
        self.tokenizer = Tokenizer.from_file(str(spec.sibling(spec.entry.tokenizer, "the tokenizer")))
        self.tokenizer.no_padding()  # each batch is padded here, to its longest text (the file may ask for more)
        self.tokenizer.enable_truncation(max_length=spec.entry.max_tokens or MAX_TOKENS)
        self.clean = cleaner(spec.entry.text_clean, spec.name)
        self.context_length = spec.entry.context_length  # None: each batch padded to its longest text
        config = config or SessionConfig()
        if config.spinning is None:  # no spinning unless asked: see SessionConfig.spinning
            config = replace(config, spinning=False)
        config = replace(config, device=text_device(spec, config.device))
        self.session, self.device = create_session(str(spec.path), config)
        self.dim = spec.output_dim("embedding")
        self.inputs = {i.name for i in self.session.get_inputs()}
        self.reuse = True  # take texts the previous embed call embedded from it (False: embed every text)
        self._last: tuple[dict[str, int], np.ndarray] | None = None  # the last embed call's texts and rows

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

    def _run(self, ids: list[list[int]]) -> np.ndarray:
        """Embeddings of tokenised texts, padded with 0 to the longest of them."""
        width = self.context_length or max(len(row) for row in ids)
        tokens = np.zeros((len(ids), width), dtype=np.int64)
        mask = np.zeros((len(ids), width), dtype=np.int64)
        for r, row in enumerate(ids):
            tokens[r, :len(row)] = row
            mask[r, :len(row)] = 1
        feeds = {"input_ids": tokens, "attention_mask": mask}
        (embedding,) = self.session.run(["embedding"], {k: v for k, v in feeds.items() if k in self.inputs})
        return embedding

    def _known(self, texts: list[str], out: np.ndarray) -> list[int]:
        """Fill `out` with the rows the last call embedded (e.g. the seen classes after the 21K labels that hold
        them); returns the positions still to embed."""
        rows, vectors = self._last if self._last and self.reuse else ({}, out)
        todo = []
        for i, text in enumerate(texts):
            if text in rows:
                out[i] = vectors[rows[text]]
            else:
                todo.append(i)
        return todo

    def embed(self, texts: Sequence[str], batch_size: int = BATCH_SIZE,
              progress: Callable[[int], None] | None = None, order: str = "tokens") -> np.ndarray:
        """Embed texts in batches of similar token count (`order`: see ORDERS), so little of each batch is
        padding; rows come back in input order; `progress(n)` is called after each batch. Texts the previous
        call embedded are taken from it, not embedded again."""
        if order not in ORDERS:
            raise ValueError(f"order must be one of {ORDERS}, not {order!r}")
        texts = list(texts)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        todo = self._known(texts, out)
        if progress and len(todo) < len(texts):
            progress(len(texts) - len(todo))
        raw = [texts[i] for i in todo]
        ids = [e.ids for e in self.tokenizer.encode_batch([self.clean(t) for t in raw] if self.clean else raw)]
        key = {"tokens": lambda j: len(ids[j]), "chars": lambda j: len(texts[todo[j]]), "input": None}[order]
        ranked = sorted(range(len(todo)), key=key) if key else list(range(len(todo)))
        for start in range(0, len(ranked), batch_size):
            chunk = ranked[start:start + batch_size]
            out[[todo[j] for j in chunk]] = self._run([ids[j] for j in chunk])
            if progress:
                progress(len(chunk))
        self._last = ({text: i for i, text in enumerate(texts)}, out.copy()) if self.reuse else None
        return out
