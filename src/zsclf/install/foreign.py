"""Bring your own model: export a timm classifier or an OpenCLIP pair to ONNX, with a card zsclf reads.

    python tools/export_models.py --timm convnext_base:fb_in22k --out models/convnext-base-22k
    python tools/export_models.py --openclip ViT-B-32:laion2b_s34b_b79k --out models/clip-b32
    python tools/export_models.py --timm convnext_atto --random --out /tmp/atto   (random weights, seed 0)

An output folder DIR holds the ONNX files, their side files (tokenizer, class names) and the card
`DIR/zsclf-model.json` = {"format": 1, "models": {NAME: ENTRY, ...}}, merged atomically when a second model
is exported into the same folder. Every image graph takes uint8 RGB pixels NHWC [N, S, S, 3] and applies
`(x - mean_rgb) / std_rgb` (pixel units) itself. Pretrained weights are read from timm's and open_clip's
local caches: HF_HUB_OFFLINE=1 is set unless the environment says otherwise, so nothing is downloaded.
The OpenCLIP half (two towers and the CLIP tokenizer.json) is in `foreign_clip`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np
import torch
from torch import nn

from ..core.fsio import atomic_file
from ..errors import ZsclfError
from ..models.registry import sha256_file
from .export import OPSET, _export
from .torch_compat import import_torchvision

CARD = "zsclf-model.json"
SEED = 0
BUILTIN_CLASSES = {"imagenet21k": 21841, "imagenet1k": 1000}  # labels/<name>.tsv, rows in timm's logit order
PARITY_TOLERANCE = 1e-3  # export-time check: ONNX Runtime vs torch, relative to the outputs' largest value


def import_timm_and_open_clip() -> tuple[ModuleType, ModuleType]:
    """Import timm and open_clip (offline by default: HF_HUB_OFFLINE=1 unless set).

    Both import torchvision, which install.torch_compat imports first where its C extension cannot load.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import_torchvision()  # see install.torch_compat
    import open_clip
    import timm

    return timm, open_clip


class ScaledInput(nn.Module):
    """uint8 RGB pixels NHWC -> (x - mean_rgb) / std_rgb -> NCHW float, then `forward_fn` (inside the graph)."""

    def __init__(self, net: nn.Module, forward_fn: Callable, mean_rgb: list[float], std_rgb: list[float]) -> None:
        super().__init__()
        self.net, self.forward_fn = net, forward_fn
        self.register_buffer("mean", torch.tensor(mean_rgb, dtype=torch.float32))
        self.register_buffer("std", torch.tensor(std_rgb, dtype=torch.float32))

    def forward(self, image: torch.Tensor):
        return self.forward_fn(((image.to(torch.float32) - self.mean) / self.std).permute(0, 3, 1, 2))


def scale_pixels(batch: np.ndarray, mean_rgb: list[float], std_rgb: list[float]) -> np.ndarray:
    """uint8 NHWC -> the float NCHW tensor the torch network takes (what the graph does itself)."""
    x = (batch.astype(np.float32) - np.asarray(mean_rgb, np.float32)) / np.asarray(std_rgb, np.float32)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def state_dict_sha256(net: nn.Module) -> str:
    """sha256 over a module's state dict (names, dtypes, shapes, bytes, in key order): identifies weights."""
    digest = hashlib.sha256()
    for key, value in sorted(net.state_dict().items()):
        array = value.detach().cpu().contiguous()
        digest.update(f"{key}\0{array.dtype}\0{tuple(array.shape)}\0".encode())
        digest.update(array.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def image_input(size: int, mean_rgb: list[float], std_rgb: list[float], crop_fraction: float) -> dict:
    """The card's `input` block of an image graph."""
    return {"name": "image", "layout": "NHWC", "dtype": "uint8", "size": size, "color": "RGB",
            "mean_rgb": [float(v) for v in mean_rgb], "std_rgb": [float(v) for v in std_rgb],
            "scaling": "(x - mean_rgb) / std_rgb inside the graph", "crop": "center",
            "crop_fraction": float(crop_fraction), "resize": "bicubic"}


def file_fields(path: Path) -> dict:
    """file, sha256 and bytes of a file the card names."""
    return {"file": path.name, "sha256": sha256_file(path), "bytes": path.stat().st_size}


def export_checked(model: nn.Module, probe: torch.Tensor, out: Path, input_name: str,
                   output_names: list[str], dynamic_length: bool = False) -> None:
    """Export `model` (dynamic batch; `dynamic_length`: and input length) to `out` and check ONNX Runtime against
    torch on `probe`."""
    import onnxruntime as ort

    model.eval()
    dynamic = {name: {0: "batch"} for name in [input_name, *output_names]}
    if dynamic_length:
        dynamic[input_name][1] = "tokens"
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)  # its fused attention op has no ONNX export
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)  # attention's shape checks
            warnings.filterwarnings("ignore", message="Exporting aten::index operator")  # CLIP's EOT gather (>= 0)
            _export(model, (probe,), out, input_names=[input_name], output_names=output_names,
                    dynamic_axes=dynamic)
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
    with torch.no_grad():
        expected = model(probe)
    expected = expected if isinstance(expected, tuple) else (expected,)
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    got = session.run(output_names, {input_name: probe.numpy()})
    for name, ref, value in zip(output_names, expected, got, strict=True):
        ref = ref.numpy()
        diff = float(np.abs(ref - value).max())
        if value.shape != ref.shape or diff > PARITY_TOLERANCE * max(1.0, float(np.abs(ref).max())):
            raise ZsclfError(f"{out.name}: output {name} differs between ONNX Runtime and torch "
                             f"(shapes {value.shape} / {ref.shape}, max abs diff {diff:.3g})")


def image_probe(size: int, batch: int = 2) -> torch.Tensor:
    """Deterministic uint8 NHWC pixels for tracing and the export-time check."""
    return torch.from_numpy(np.random.default_rng(SEED).integers(0, 256, (batch, size, size, 3), dtype=np.uint8))


def class_names(classes: str, count: int | None, timm: ModuleType, net: nn.Module | None) -> tuple[str, list | None]:
    """(what the card's `classes` says, rows of a NAME.classes.tsv to write or None) for a classifier."""
    if classes == "timm":
        subset = timm.data.infer_imagenet_subset(net) if net is not None else None
        if subset is None:
            raise ZsclfError(f"timm knows no class names for {count} logits: pass --classes FILE.tsv")
        info = timm.data.ImageNetInfo(subset)
        return "", list(zip(info.label_names(), info.label_descriptions(), strict=True))
    if classes in BUILTIN_CLASSES:
        if count is not None and count != BUILTIN_CLASSES[classes]:
            raise ZsclfError(f"classes {classes} has {BUILTIN_CLASSES[classes]} names, the model {count} logits")
        return classes, None
    path = Path(classes)
    if not path.is_file():
        raise ZsclfError(f"classes {classes!r}: neither {', '.join(BUILTIN_CLASSES)}, 'timm' nor a TSV file")
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = [tuple((line.split("\t") + [""])[:2]) for line in lines[1 if lines[:1] == ["id\tname"] else 0:]]
    if count is not None and len(rows) != count:
        raise ZsclfError(f"{path}: {len(rows)} class rows for {count} logits")
    return "", rows


def default_classes(num_classes: int) -> str:
    """The class list a pretrained head of `num_classes` logits most likely uses."""
    return next((name for name, count in BUILTIN_CLASSES.items() if count == num_classes), "timm")


class TimmFeaturesAndLogits(nn.Module):
    """A timm classifier: pre-logits features and the logits, as timm's forward computes them."""

    def __init__(self, net: nn.Module, shared_head: bool) -> None:
        super().__init__()
        self.net, self.shared_head = net, shared_head

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        fmap = self.net.forward_features(x)
        features = self.net.forward_head(fmap, pre_logits=True)
        logits = self.net.get_classifier()(features) if self.shared_head else self.net.forward_head(fmap)
        return features, logits


def timm_weights(timm: ModuleType, net: nn.Module, pretrained: bool) -> dict:
    """The card's `weights`/`weights_sha256` (and `random`) for a timm model."""
    if not pretrained:
        return {"weights": f"random (seed {SEED})", "weights_sha256": state_dict_sha256(net), "random": True}
    cfg = net.pretrained_cfg
    path = None
    if cfg.get("hf_hub_id"):
        from huggingface_hub import try_to_load_from_cache

        for filename in (cfg.get("hf_hub_filename"), "model.safetensors", "open_clip_pytorch_model.bin",
                         "pytorch_model.bin"):
            found = try_to_load_from_cache(cfg["hf_hub_id"], filename) if filename else None
            if isinstance(found, str):
                path = Path(found)
                break
    elif cfg.get("url"):
        candidate = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(cfg["url"])
        path = candidate if candidate.is_file() else None
    hub = {"hf_hub_id": cfg["hf_hub_id"]} if cfg.get("hf_hub_id") else {"url": cfg["url"]} if cfg.get("url") else {}
    if path is None:
        return {"weights": "state dict (its file is not in the cache)", "weights_sha256": state_dict_sha256(net), **hub}
    return {"weights": path.name, "weights_sha256": sha256_file(path), **hub}


def not_cached(what: str, exc: BaseException) -> ZsclfError:
    """The error for pretrained weights that could not be loaded (usually: not in the local cache)."""
    reason = (str(exc).strip().splitlines() or [type(exc).__name__])[-1]
    return ZsclfError(f"{what}: cannot load the pretrained weights (HF_HUB_OFFLINE={os.environ.get('HF_HUB_OFFLINE')}; "
                      f"they must be in the local cache): {reason}")


def load_timm(name: str, *, pretrained: bool, classes: str | None = None) -> tuple[nn.Module, str]:
    """(timm classifier in eval mode, its classes) as export_timm exports it: random weights are seed 0."""
    timm, _ = import_timm_and_open_clip()
    torch.manual_seed(SEED)
    if pretrained:
        try:
            net = timm.create_model(name, pretrained=True)
        except (OSError, RuntimeError, ValueError) as exc:
            raise not_cached(f"timm {name}", exc) from exc
        return net.eval(), classes or default_classes(net.num_classes)
    classes = classes or "imagenet21k"
    if classes == "timm":
        raise ZsclfError("random weights: give the classes as imagenet21k, imagenet1k or a TSV file")
    count = BUILTIN_CLASSES.get(classes) or len(class_names(classes, None, timm, None)[1] or [])
    return timm.create_model(name, pretrained=False, num_classes=count).eval(), classes


def export_timm(name: str, out_dir: Path, *, pretrained: bool, model_name: str | None = None,
                classes: str | None = None) -> dict:
    """Export the timm classifier `name` (`arch` or `arch.tag`) into out_dir; write it into the card and
    return {card name: entry}. Random weights (seed 0) unless `pretrained` (timm's local cache). `classes`:
    imagenet21k / imagenet1k (zsclf's label files), 'timm' (timm's names for its ImageNet subsets) or a TSV
    of id<TAB>name per logit; None: from the number of logits (random weights: imagenet21k)."""
    timm, _ = import_timm_and_open_clip()
    model_name = model_name or name.replace("_", "-").replace(".", "-").replace("/", "-")
    out_dir.mkdir(parents=True, exist_ok=True)
    net, classes = load_timm(name, pretrained=pretrained, classes=classes)
    card_classes, rows = class_names(classes, net.num_classes, timm, net)
    if rows is not None:
        tsv = out_dir / f"{model_name}.classes.tsv"
        with atomic_file(tsv) as fh:
            fh.write("".join(f"{i}\t{n}\n" for i, n in [("id", "name"), *rows]).encode())
        card_classes = tsv.name
    cfg = net.pretrained_cfg
    size = int(cfg["input_size"][-1])
    if cfg.get("interpolation", "bicubic") != "bicubic" or cfg.get("crop_mode", "center") != "center":
        warnings.warn(f"{name}: timm resizes {cfg.get('interpolation')} with crop mode {cfg.get('crop_mode')}; "
                      "zsclf crops the centre and resizes bicubic", stacklevel=2)
    mean = [255.0 * v for v in cfg["mean"]]
    std = [255.0 * v for v in cfg["std"]]
    probe = image_probe(size)
    with torch.no_grad():
        x = torch.from_numpy(scale_pixels(probe.numpy(), mean, std))
        reference = net(x)
        shared = TimmFeaturesAndLogits(net, True)(x)[1]
    core = TimmFeaturesAndLogits(net, bool(torch.allclose(shared, reference, atol=1e-5)))
    model = ScaledInput(core, core.forward, mean, std)
    out = out_dir / f"{model_name}.onnx"
    export_checked(model, probe, out, "image", ["features", "logits"])
    with torch.no_grad():
        features, logits = model(probe[:1])
    source = {"timm": name, "pretrained": (cfg.get("tag") or True) if pretrained else False,
              **timm_weights(timm, net, pretrained)}
    entry = {"kind": "image", **file_fields(out),
             "input": image_input(size, mean, std, float(cfg.get("crop_pct", 0.875))),
             "outputs": {"features": [None, features.shape[-1]], "logits": [None, logits.shape[-1]]},
             "classes": card_classes, "source": source,
             "exported_with": {"torch": torch.__version__, "timm": timm.__version__, "onnx_opset": OPSET}}
    if rows is not None:
        entry["classes_sha256"] = sha256_file(out_dir / card_classes)
    write_card(out_dir, {model_name: entry})
    return {model_name: entry}


def write_card(out_dir: Path, entries: dict[str, dict]) -> Path:
    """Merge `entries` into DIR/zsclf-model.json, written atomically (temp file + rename)."""
    path = out_dir / CARD
    card = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {"format": 1, "models": {}}
    card["models"] = dict(sorted({**card["models"], **entries}.items()))
    with atomic_file(path) as fh:
        fh.write((json.dumps(card, indent=2) + "\n").encode())
    return path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The bring-your-own-model flags of tools/export_models.py."""
    group = parser.add_argument_group(
        "bring your own model (needs the `foreign` extra: timm, open_clip_torch)",
        "Export a timm classifier or an OpenCLIP pair into --out DIR with its card DIR/zsclf-model.json. "
        "Pretrained weights are read from the local timm / open_clip (Hugging Face) caches: HF_HUB_OFFLINE=1 "
        "is set unless your environment sets it, so nothing is downloaded; fill the cache first.")
    group.add_argument("--timm", metavar="NAME[:PRETRAINED_TAG]",
                       help="a timm classifier, e.g. convnext_base:fb_in22k (no tag: timm's default weights)")
    group.add_argument("--openclip", metavar="ARCH[:PRETRAINED]", help="an OpenCLIP pair, e.g. ViT-B-32:openai")
    group.add_argument("--random", action="store_true", help="random weights (seed 0) instead of pretrained ones")
    group.add_argument("--out", type=Path, metavar="DIR", help="output folder (the card is merged if there)")
    group.add_argument("--name", help="the model's name in the card (default: from NAME / ARCH)")
    group.add_argument("--classes", help="timm: imagenet21k, imagenet1k, timm (timm's class names) or a TSV of "
                                         "id<TAB>name per logit (default: from the number of logits)")


def requested(args: argparse.Namespace) -> bool:
    """Whether the command line asks for a timm or OpenCLIP export."""
    return bool(args.timm or args.openclip)


def run(args: argparse.Namespace, note: Callable[[str], None]) -> int:
    """Do the exports the flags ask for; returns an exit code."""
    if args.out is None:
        raise ZsclfError("--timm / --openclip need --out DIR")
    if args.timm and args.openclip and args.name:
        raise ZsclfError("--name names one model: export --timm and --openclip separately")
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    entries: dict[str, dict] = {}
    if args.timm:
        arch, _, tag = args.timm.partition(":")
        entries |= export_timm(f"{arch}.{tag}" if tag else arch, args.out, pretrained=not args.random,
                               model_name=args.name, classes=args.classes)
    if args.openclip:
        from .foreign_clip import export_openclip

        arch, _, tag = args.openclip.partition(":")
        if not tag and not args.random:
            raise ZsclfError(f"--openclip {arch}: name the pretrained weights (ARCH:TAG) or pass --random")
        entries |= export_openclip(arch, args.out, pretrained=None if args.random else tag, name=args.name)
    for name, entry in entries.items():
        note(f"exported {name}: {entry['file']} {entry['bytes'] / 1e6:.1f} MB")
    note(f"card: {args.out / CARD}")
    return 0


def run_cli(args: argparse.Namespace) -> int:
    """`run` for a command line: progress and errors on stderr; exit code 2 on a ZsclfError."""
    try:
        return run(args, lambda line: print(line, file=sys.stderr))
    except ZsclfError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
