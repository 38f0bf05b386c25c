"""OpenCLIP pairs for zsclf (see `foreign`): image tower, text tower and a CLIP tokenizer.json.

The tokenizer file is built from open_clip's own `bpe_simple_vocab_16e6.txt.gz` (shipped in the package) the
way OpenCLIP's SimpleTokenizer builds its vocabulary, for the `tokenizers` library: zsclf cleans texts first
(`text_clean: "clip"`), then the file's pre-tokenizer splits them with OpenCLIP's pattern, maps bytes to
unicode, runs the BPE with "</w>" word ends and adds the start/end tokens; zsclf truncates to 77 and pads
with 0, which gives OpenCLIP's token ids (tests/test_foreign_models.py compares them on over 1,000 strings).
Known differences: (1) `<start_of_text>` / `<end_of_text>` typed in a text right after punctuation (`!<end_of_text>`)
stay special tokens here, OpenCLIP's regex reads them as punctuation and words; (2) code points new in Unicode 17
are letters for a `regex` module that knows Unicode 17 but symbols for the tokenizers library (Unicode 16).
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..errors import ZsclfError
from ..models.registry import sha256_file
from ..models.text_clean import cleaner
from .foreign import (
    OPSET,
    PARITY_TOLERANCE,
    SEED,
    ScaledInput,
    export_checked,
    file_fields,
    image_input,
    image_probe,
    import_timm_and_open_clip,
    not_cached,
    state_dict_sha256,
    write_card,
)

CONTEXT = 77
SOT, EOT = "<start_of_text>", "<end_of_text>"  # OpenCLIP's names (ids 49406, 49407); HF's CLIP says <|startoftext|>
VOCAB = 49408
EXPORT_TOKENS = 16  # the length the text tower is traced at (any length up to 77 runs)
# OpenCLIP's SimpleTokenizer pattern. U+0345 (combining ypogegrammeni) is left out of the last class: OpenCLIP
# compiles the pattern case-insensitively, where U+0345 (which case-folds to a Greek letter) matches no branch,
# so OpenCLIP drops it.
PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}""" + "\u0345" + "]+"
PROBE_TEXTS = ["a photo of a dog.", "Ｃafé &amp; crème brûlée, 3 × 4 — ‘quoted’ 日本語 🙂", "", "word " * 90]


def write_clip_tokenizer(path: Path) -> Path:
    """Write OpenCLIP's BPE tokenizer as a `tokenizers` JSON file (atomically); needs only open_clip's vocab file."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, processors

    _, open_clip = import_timm_and_open_clip()
    from open_clip.tokenizer import bytes_to_unicode, default_bpe

    lines = gzip.open(default_bpe()).read().decode("utf-8").split("\n")
    merges = [tuple(line.split()) for line in lines[1:49152 - 256 - 2 + 1]]
    symbols = list(bytes_to_unicode().values())
    vocab = [*symbols, *(s + "</w>" for s in symbols), *("".join(m) for m in merges), SOT, EOT]
    if len(vocab) != VOCAB or len(set(vocab)) != VOCAB:
        raise ZsclfError(f"{default_bpe()}: {len(vocab)} tokens ({len(set(vocab))} distinct), expected {VOCAB}")
    tokenizer = Tokenizer(models.BPE(vocab={token: i for i, token in enumerate(vocab)}, merges=merges,
                                     unk_token=EOT, end_of_word_suffix="</w>", continuing_subword_prefix="",
                                     fuse_unk=False))
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(PATTERN), behavior="removed", invert=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{SOT} $A {EOT}", special_tokens=[(SOT, VOCAB - 2), (EOT, VOCAB - 1)])
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in (SOT, EOT)])
    tmp = path.with_name(path.name + ".tmp")
    tokenizer.save(str(tmp), pretty=False)
    os.replace(tmp, path)
    return path


def clip_token_ids(tokenizer_file: Path, texts: list[str], context_length: int = CONTEXT) -> np.ndarray:
    """Token ids [N, context_length] the way zsclf computes them: clean, encode, truncate, pad with 0."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(tokenizer_file))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=context_length)
    clean = cleaner("clip", tokenizer_file.name)
    ids = np.zeros((len(texts), context_length), dtype=np.int64)
    for row, encoding in zip(ids, tokenizer.encode_batch([clean(t) for t in texts]), strict=True):
        row[:len(encoding.ids)] = encoding.ids
    return ids


class LengthFreeAttention(nn.Module):
    """nn.MultiheadAttention's self-attention (packed in-projection, additive or no mask, no dropout) written with no
    size taken from the input, so that a traced export keeps the token count free (torch's own bakes it in)."""

    def __init__(self, mha: nn.MultiheadAttention) -> None:
        super().__init__()
        self.mha, self.heads, self.batch_first = mha, mha.num_heads, mha.batch_first

    def forward(self, q_x, k_x, v_x, need_weights=False, attn_mask=None):
        x = q_x if self.batch_first else q_x.transpose(0, 1)  # [N, L, E]
        q, k, v = nn.functional.linear(x, self.mha.in_proj_weight, self.mha.in_proj_bias).chunk(3, dim=-1)
        q, k, v = (t.unflatten(-1, (self.heads, -1)).transpose(1, 2) for t in (q, k, v))  # [N, H, L, D]
        scores = q @ k.transpose(-1, -2) * (q.shape[-1] ** -0.5)
        if attn_mask is not None:
            scores = scores + attn_mask
        x = (scores.softmax(dim=-1) @ v).transpose(1, 2).flatten(-2)  # [N, L, E]
        x = self.mha.out_proj(x)
        return (x if self.batch_first else x.transpose(0, 1)), None


def length_free(model: nn.Module) -> nn.Module:
    """A copy of `model` whose text transformer's attention keeps the token count free in a traced export."""
    import copy

    model = copy.deepcopy(model)
    for block in getattr(getattr(model, "transformer", None), "resblocks", []):
        if isinstance(block.attn, nn.MultiheadAttention) and block.attn._qkv_same_embed_dim:
            block.attn = LengthFreeAttention(block.attn)
    return model


class TextTower(nn.Module):
    """OpenCLIP's encode_text with normalize=True: token ids [N, L] -> L2-normalised embeddings, for any L <= 77.

    OpenCLIP's CLIP adds all 77 positional embeddings, so it needs 77 tokens; here the positions and the causal
    mask are cut to the ids given. Under the causal mask no token attends to a later one and the embedding is
    read at the end-of-text token, so padding after it changes nothing: a batch padded to its longest text gives
    what 77 tokens give (checked at export), at a fraction of the work (labels are ~5-25 tokens).
    Text towers of other classes (`model.text`) cut their positions themselves."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        m = self.model
        if not hasattr(m, "token_embedding"):
            return nn.functional.normalize(m.encode_text(input_ids), dim=-1)
        from open_clip.transformer import text_global_pool

        length = input_ids.shape[1]
        x = m.token_embedding(input_ids) + m.positional_embedding[:length]
        x = m.ln_final(m.transformer(x, attn_mask=m.attn_mask[:length, :length]))
        x = text_global_pool(x, input_ids, m.text_pool_type, eos_token_id=getattr(m, "text_eos_id", None))
        x = m.text_projection(x) if isinstance(m.text_projection, nn.Linear) else x @ m.text_projection
        return nn.functional.normalize(x, dim=-1)


def check_shorter_ids(model: nn.Module, text_file: Path, ids: np.ndarray) -> None:
    """The exported text tower on ids cut after the longest text gives what OpenCLIP gives on all 77 tokens."""
    import onnxruntime as ort

    longest = int((ids != 0).sum(axis=1).max())
    (short,) = ort.InferenceSession(str(text_file), providers=["CPUExecutionProvider"]).run(
        ["embedding"], {"input_ids": ids[:, :longest]})
    with torch.no_grad():
        full = model.encode_text(torch.from_numpy(ids), normalize=True).numpy()
    if float(np.abs(short - full).max()) > PARITY_TOLERANCE:
        raise ZsclfError(f"{text_file.name}: {longest} tokens and {ids.shape[1]} disagree "
                         f"(max abs diff {float(np.abs(short - full).max()):.3g})")


def openclip_weights(open_clip, arch: str, pretrained: str) -> dict:
    """The card's `weights`/`weights_sha256` of an OpenCLIP tag (read from the local cache) or file."""
    cfg = open_clip.get_pretrained_cfg(arch, pretrained)
    path = Path(open_clip.download_pretrained(cfg)) if cfg else Path(pretrained)
    return {"weights": path.name, "weights_sha256": sha256_file(path)}


def load_openclip(arch: str, pretrained: str | None, config: dict | None):
    """(model in eval mode, its tokenizer, source block) for a named arch or a custom config (seed 0 when random);
    `pretrained`: a tag of `arch` or a checkpoint file."""
    _, open_clip = import_timm_and_open_clip()
    torch.manual_seed(SEED)
    if config is not None:
        model = open_clip.CLIP(**config)
        if pretrained:  # a checkpoint file of that config
            open_clip.load_checkpoint(model, pretrained)
        context = config.get("text_cfg", {}).get("context_length", CONTEXT)
        tokenizer = open_clip.SimpleTokenizer(context_length=context)
        source = {"open_clip": arch, "config": config}
    else:
        try:
            model = open_clip.create_model(arch, pretrained=pretrained or None)
        except (OSError, RuntimeError, ValueError) as exc:
            raise not_cached(f"OpenCLIP {arch}:{pretrained}", exc) from exc
        tokenizer = open_clip.get_tokenizer(arch)
        source = {"open_clip": arch}
    source["pretrained"] = pretrained or False
    if pretrained:
        source |= openclip_weights(open_clip, arch, pretrained)
    else:
        source |= {"weights": f"random (seed {SEED})", "weights_sha256": state_dict_sha256(model), "random": True}
    if not isinstance(tokenizer, open_clip.SimpleTokenizer) or tokenizer.reduction_fn is not None \
            or tokenizer.clean_fn.__name__ != "_clean_lower" or tokenizer.vocab_size != VOCAB:
        raise ZsclfError(f"OpenCLIP model {arch}: only the CLIP BPE tokenizer (lower-case cleaning, {VOCAB} tokens) "
                         f"can be exported, this one has {type(tokenizer).__name__}")
    return model.eval(), tokenizer, source


def export_openclip(arch: str, out_dir: Path, *, pretrained: str | None, name: str | None = None,
                    config: dict | None = None) -> dict:
    """Export an OpenCLIP pair into out_dir (image tower NAME, text tower NAME-text, the tokenizer), write them
    into the card and return their entries. `pretrained`: a tag or file read from the local cache (None:
    random weights, seed 0); `config`: a custom model config (vision_cfg, text_cfg, embed_dim) instead of `arch`."""
    _, open_clip = import_timm_and_open_clip()
    name = name or "-".join([arch, pretrained or "random"]).lower().replace("_", "-").replace("/", "-")
    out_dir.mkdir(parents=True, exist_ok=True)
    model, reference_tokenizer, source = load_openclip(arch, pretrained, config)
    context = int(reference_tokenizer.context_length)
    if model.positional_embedding.shape[0] != context:
        raise ZsclfError(f"OpenCLIP model {arch}: context length {model.positional_embedding.shape[0]}, "
                         f"its tokenizer {context}")
    preprocess = getattr(model.visual, "preprocess_cfg", None) or {}
    mean = [255.0 * v for v in preprocess.get("mean", open_clip.OPENAI_DATASET_MEAN)]
    std = [255.0 * v for v in preprocess.get("std", open_clip.OPENAI_DATASET_STD)]
    size = model.visual.image_size
    size = size if isinstance(size, int) else size[0] if size[0] == size[1] else None
    if size is None:
        raise ZsclfError(f"OpenCLIP model {arch}: the image tower takes {model.visual.image_size}, not a square")
    text_name = f"{name}-text"
    tokenizer_file = write_clip_tokenizer(out_dir / f"{text_name}.tokenizer.json")
    ids = clip_token_ids(tokenizer_file, PROBE_TEXTS, context)
    if not np.array_equal(ids, reference_tokenizer(PROBE_TEXTS).numpy()):
        raise ZsclfError(f"OpenCLIP model {arch}: the exported tokenizer disagrees with OpenCLIP's")

    image_file, text_file = out_dir / f"{name}.onnx", out_dir / f"{text_name}.onnx"
    export_checked(ScaledInput(model, model.encode_image, mean, std), image_probe(size), image_file,
                   "image", ["embedding"])
    # traced on fewer tokens than the context: a slice of all 77 would be folded away, fixing the length at 77
    export_checked(TextTower(length_free(model)), torch.from_numpy(ids[:, :EXPORT_TOKENS]), text_file, "input_ids",
                   ["embedding"], dynamic_length=True)
    check_shorter_ids(model, text_file, ids[:-1])  # the probe texts but the one of 77 tokens
    with torch.no_grad():
        dim = int(model.encode_text(torch.from_numpy(ids[:1])).shape[-1])
    exported = {"torch": torch.__version__, "open_clip": open_clip.__version__, "onnx_opset": OPSET}
    pool = getattr(model, "text_pool_type", getattr(getattr(model, "text", None), "pool_type", "argmax"))
    pooling = "end-of-text token" if pool in ("argmax", "eos") else f"{pool} token"
    image_entry = {"kind": "image", **file_fields(image_file), "input": image_input(size, mean, std, 1.0),
                   "outputs": {"embedding": [None, dim]}, "text_model": text_name,
                   "logit_scale": float(model.logit_scale.detach().exp()), "source": source, "exported_with": exported}
    if getattr(model, "logit_bias", None) is not None:
        image_entry["logit_bias"] = float(model.logit_bias.detach())
    text_entry = {"kind": "text", **file_fields(text_file), "tokenizer": tokenizer_file.name,
                  "tokenizer_sha256": sha256_file(tokenizer_file), "max_tokens": context,
                  "text_clean": "clip", "inputs": ["input_ids"],
                  "outputs": {"embedding": [None, dim]},
                  "pooling": f"{pooling}, projection, L2 normalise (inside the graph)", "image_model": name,
                  "source": source, "exported_with": exported}
    entries = {name: image_entry, text_name: text_entry}
    write_card(out_dir, entries)
    return entries
