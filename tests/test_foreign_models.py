"""Bring-your-own models (install.foreign, tools/make_test_models.py): torch vs ONNX Runtime on real photos and
sentences, OpenCLIP's tokenizer vs the exported tokenizer.json on over 1,000 strings, and the cards."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import IMAGES, ROOT, SHARED

try:
    import torch

    from zsclf.install.foreign import import_timm_and_open_clip

    timm, open_clip = import_timm_and_open_clip()
except ImportError as exc:
    pytest.skip(f"timm / open_clip not installed ({exc}): pip install -e '.[export,foreign]'",
                allow_module_level=True)

import onnxruntime as ort  # noqa: E402

from zsclf.install.foreign import CARD, load_timm, scale_pixels, state_dict_sha256, write_card  # noqa: E402
from zsclf.install.foreign_clip import EOT, SOT, clip_token_ids, export_openclip, load_openclip  # noqa: E402
from zsclf.models.registry import Preprocess, sha256_file  # noqa: E402
from zsclf.pipeline.images import load_and_preprocess  # noqa: E402

sys.path.insert(0, str(ROOT / "tools"))
import make_test_models as tm  # noqa: E402

TOLERANCE = 1e-4
CLIPS = ("clip-rn", "clip-vit")


def card(folder: Path) -> dict[str, dict]:
    return json.loads((folder / CARD).read_text(encoding="utf-8"))["models"]


def session(path: Path) -> ort.InferenceSession:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def max_diff(a, b) -> float:
    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.abs(a - b).max())


@pytest.fixture(scope="module")
def photos() -> list[Path]:
    """8 real photos: spread over ../shared/data/imagenet-sample (or the 5 committed test photos)."""
    sample = SHARED / "imagenet-sample"
    if sample.is_dir():
        files = sorted(p for p in sample.iterdir() if p.suffix.lower() in (".jpeg", ".jpg", ".png"))
        return files[::max(1, len(files) // 8)][:8]
    return sorted(p for p in IMAGES.iterdir() if p.suffix in (".jpg", ".png"))


def pixels(entry: dict, photos: list[Path]) -> np.ndarray:
    """zsclf's own decoding and preprocessing for the card's input block: uint8 NHWC."""
    spec = Preprocess(size=entry["input"]["size"], crop_fraction=entry["input"]["crop_fraction"])
    return np.stack([load_and_preprocess(p, spec) for p in photos])


@pytest.fixture(scope="module")
def torch_models(test_models_dir):
    """The torch models the test models came from, rebuilt (seed 0); their weights must be the card's."""
    net, _ = load_timm(tm.TIMM_ARCH, pretrained=False, classes="imagenet21k")
    models = {"timm-21k": net}
    for folder in CLIPS:
        models[folder] = load_openclip(f"custom {folder}", None, tm.CLIP_CONFIGS[folder])[0]
    for folder, model in models.items():
        assert state_dict_sha256(model) == card(test_models_dir / folder)[tm.MODELS[folder]]["source"]["weights_sha256"]
    return models


def test_timm_parity_on_photos(test_models_dir, torch_models, photos):
    entry = card(test_models_dir / "timm-21k")[tm.MODELS["timm-21k"]]
    batch = pixels(entry, photos)
    features, logits = session(test_models_dir / "timm-21k" / entry["file"]).run(["features", "logits"],
                                                                                 {"image": batch})
    net = torch_models["timm-21k"]
    with torch.no_grad():
        x = torch.from_numpy(scale_pixels(batch, entry["input"]["mean_rgb"], entry["input"]["std_rgb"]))
        ref_features = net.forward_head(net.forward_features(x), pre_logits=True)
        ref_logits = net(x)  # timm's own forward, not the export wrapper
    diffs = (max_diff(features, ref_features), max_diff(logits, ref_logits))
    print(f"timm-21k on {len(photos)} photos: max abs diff features {diffs[0]:.2e} logits {diffs[1]:.2e} "
          f"(|logits| up to {float(ref_logits.abs().max()):.2f})")
    assert max(diffs) <= TOLERANCE
    assert features.shape == (len(photos), 320) and logits.shape == (len(photos), 21841)


@pytest.mark.parametrize("folder", CLIPS)
def test_clip_image_parity_on_photos(test_models_dir, torch_models, photos, folder):
    entry = card(test_models_dir / folder)[tm.MODELS[folder]]
    batch = pixels(entry, photos)
    onnx = session(test_models_dir / folder / entry["file"])
    (embedding,) = onnx.run(["embedding"], {"image": batch})
    (single,) = onnx.run(["embedding"], {"image": batch[:1]})
    with torch.no_grad():
        x = torch.from_numpy(scale_pixels(batch, entry["input"]["mean_rgb"], entry["input"]["std_rgb"]))
        reference = torch_models[folder].encode_image(x)
    diff = max_diff(embedding, reference)
    print(f"{folder} image tower on {len(photos)} photos: max abs diff {diff:.2e} "
          f"(|embedding| up to {float(reference.abs().max()):.2f})")
    assert diff <= TOLERANCE and max_diff(single, reference[:1]) <= TOLERANCE


def sentences() -> list[str]:
    """A few dozen real sentences: COCO captions when the shared data is there, else ImageNet glosses."""
    pairs = SHARED / "coco-captions" / "pairs.tsv"
    if pairs.exists():
        return [line.split("\t")[2] for line in pairs.read_text(encoding="utf-8").splitlines()[1:41]]
    return [row.split("\t")[3] for row in label_rows()[:40]]


@pytest.mark.parametrize("folder", CLIPS)
def test_clip_text_parity(test_models_dir, torch_models, folder):
    entry = card(test_models_dir / folder)[tm.MODELS[folder] + "-text"]
    texts = sentences()
    ids = clip_token_ids(test_models_dir / folder / entry["tokenizer"], texts, entry["max_tokens"])
    tower = session(test_models_dir / folder / entry["file"])
    (embedding,) = tower.run(["embedding"], {"input_ids": ids})
    longest = int((ids != 0).sum(axis=1).max())  # what zsclf feeds: each batch padded to its longest text
    (short,) = tower.run(["embedding"], {"input_ids": ids[:, :longest]})
    with torch.no_grad():
        reference = torch_models[folder].encode_text(open_clip.get_tokenizer("ViT-B-32")(texts), normalize=True)
    diff, short_diff = max_diff(embedding, reference), max_diff(short, reference)
    print(f"{folder} text tower on {len(texts)} sentences: max abs diff {diff:.2e} at 77 tokens, "
          f"{short_diff:.2e} at {longest}")
    assert diff <= TOLERANCE and short_diff <= TOLERANCE and longest < 77
    assert np.allclose(np.linalg.norm(embedding, axis=1), 1.0, atol=1e-5)


def label_rows() -> list[str]:
    return (ROOT / "labels" / "imagenet21k.tsv").read_text(encoding="utf-8").splitlines()[1:]


HANDWRITTEN = [
    "", " ", "\t\n  ", "\u00a0\u3000\u2003", "a photo of a cat.", "A PHOTO OF A CAT!",
    "Crème brûlée à la française", "naïve façade, Ærøskøbing, Øresund, Łódź, Dvořák", "İstanbul ß ẞ ǅ ﬀ",
    "東京の猫と大熊猫", "고양이 한 마리", "Кошка на крыше", "Η γάτα κάθεται ᾳ ᾼ", "x\u0345y \u0345", "قطة سوداء",
    "חתול שחור", "बिल्ली", "แมวดำ", "🐈\u200d⬛ black cat", "👍🏽👨\u200d👩\u200d👧 🇯🇵 ❤️",
    "e\u0301le\u0300ve a\u0308 n\u0303",
    "ＣＡＴ ｃａｔ １２３ ！？", "ﬁsh ﬂower ﬃ ﬄ ǆ", "“cat’s” ‘toy’ «chat» „Katze“", "fish &amp;amp; chips",
    "&lt;b&gt;bold&lt;/b&gt; &#39;quoted&#39; &nbsp; &quot;x&quot; &eacute;", "cafÃ© Ã¢â‚¬â„¢ â€œquotedâ€\x9d",
    "It'S DON'T we'll I'd they're you've I'm rock'n'roll", "3.14159 1,000,000 ½ ² ٣ Ⅻ ⅻ 10⁶ ①",
    "!!! ??? ... --- ((())) [[]] {{}}", "C++ / C# @home #tag $5 %20 ^_^ a_b-c", "<start_of_text>",
    "<end_of_text>", "hello <end_of_text> world", "a<start_of_text>b 1<end_of_text>2", "<|startoftext|>",
    "a\x00b\x1fc\x7fd", "a\u200bb\u200dc\ufeffd\u00ade", "tab\tsep\nnew line\r\nend", "Ⓐⓑⓒ ⒜", "‮reversed‬",
    "a" * 300, "supercalifragilistic" * 20, "9" * 100, "😀" * 50, "日本" * 60,
]
POOLS = [
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", "0123456789", "   \t\n\u00a0",
    "àáâãäåæçèéêëìíîïñòóôõöøùúûüýÿßœÀÉÎÕÜ", "猫犬鳥魚木火水土金日月山川田中大小上下の",
    "абвгдежзийклмнопрстуфхцчшщъыьэюяЖЯ",
    "ابتثجحخدذرزسشصضطظعغفقكلمنهوي", "\u0300\u0301\u0302\u0303\u0308\u0327\u0345\u20dd",
    "ＡＢＣａｂｃ０１２！？", "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~“”‘’«»…—–", "ﬁﬂﬀﬃ", "😀🐈🇯🇵👍🏽❤️\u200d✨",
]


def tokenizer_strings() -> list[str]:
    """Over 1,000 strings, deterministic: ImageNet-21K names and glosses, COCO captions, unicode, long ones."""
    rng = random.Random(0)
    rows = [row.split("\t") for row in label_rows()]
    texts = list(HANDWRITTEN)
    for _, name, lemmas, gloss in rng.sample(rows, 250):
        texts += [name, f"a photo of a {name}.", lemmas, gloss]
    pairs = SHARED / "coco-captions" / "pairs.tsv"
    if pairs.exists():
        captions = [line.split("\t")[2] for line in pairs.read_text(encoding="utf-8").splitlines()[1:]]
        texts += rng.sample(captions, min(150, len(captions)))
    for _ in range(250):
        pools = rng.sample(POOLS, rng.randint(1, 4))
        texts.append("".join(rng.choice(rng.choice(pools)) for _ in range(rng.randint(1, 40))))
    for _ in range(40):
        texts.append(" ".join(rng.choice(rows)[3] for _ in range(rng.randint(8, 16))))
    return texts


def test_tokenizer_matches_open_clip(test_models_dir):
    texts = tokenizer_strings()
    reference_tokenizer = open_clip.get_tokenizer("ViT-B-32")
    reference = reference_tokenizer(texts).numpy()
    entries = {f: card(test_models_dir / f)[tm.MODELS[f] + "-text"] for f in CLIPS}
    assert len({e["tokenizer_sha256"] for e in entries.values()}) == 1
    ours = clip_token_ids(test_models_dir / "clip-rn" / entries["clip-rn"]["tokenizer"], texts)
    wrong = [(t, ours[i][:12].tolist(), reference[i][:12].tolist())
             for i, t in enumerate(texts) if not np.array_equal(ours[i], reference[i])]
    assert not wrong, f"{len(wrong)} of {len(texts)} differ, e.g. {wrong[:3]}"
    long = sum(len(reference_tokenizer.encode(t)) + 2 > 77 for t in texts)
    print(f"tokenizer: {len(texts)} strings equal to OpenCLIP's ids ({long} truncated to 77)")
    assert len(texts) >= 1000 and long >= 40


def test_tokenizer_known_difference(test_models_dir):
    """A special token's text right after punctuation: OpenCLIP's regex reads it as punctuation and words,
    the tokenizers library as the special token (documented in foreign_clip)."""
    entry = card(test_models_dir / "clip-rn")["test-clip-rn-text"]
    ours = clip_token_ids(test_models_dir / "clip-rn" / entry["tokenizer"], [f"!{SOT}", f"!{EOT}"])
    reference = open_clip.get_tokenizer("ViT-B-32")([f"!{SOT}", f"!{EOT}"]).numpy()
    assert ours[0, 2] == 49406 and ours[1, 2] == 49407 and not (reference[:, 2] >= 49406).any()


IMAGE_KEYS = {"kind", "file", "sha256", "bytes", "input", "outputs", "source", "exported_with"}
TEXT_KEYS = {"kind", "file", "sha256", "bytes", "tokenizer", "tokenizer_sha256", "max_tokens",
             "text_clean", "inputs", "outputs", "pooling", "image_model", "source", "exported_with"}


def check_onnx(path: Path, inputs: dict[str, tuple[str, list]], outputs: dict[str, list]) -> None:
    """The graph's input/output names, element types and dims (None: the dynamic batch) are the card's."""
    model = session(path)
    assert {i.name: (i.type, [d if isinstance(d, int) else None for d in i.shape]) for i in model.get_inputs()} \
        == {name: (f"tensor({dtype})", dims) for name, (dtype, dims) in inputs.items()}
    assert {o.name: [d if isinstance(d, int) else None for d in o.shape] for o in model.get_outputs()} == outputs


@pytest.mark.parametrize("folder", list(tm.MODELS))
def test_card_validates(test_models_dir, folder):
    folder_dir = test_models_dir / folder
    entries = card(folder_dir)
    name = tm.MODELS[folder]
    assert set(entries) == ({name} if folder == "timm-21k" else {name, f"{name}-text"})
    for entry in entries.values():
        path = folder_dir / entry["file"]
        assert path.is_file() and sha256_file(path) == entry["sha256"] and path.stat().st_size == entry["bytes"]
        assert entry["exported_with"]["onnx_opset"] == 17 and entry["source"]["random"] is True
    image = entries[name]
    size = image["input"]["size"]
    assert image["input"] | {"mean_rgb": None, "std_rgb": None} == {
        "name": "image", "layout": "NHWC", "dtype": "uint8", "size": 224, "color": "RGB", "mean_rgb": None,
        "std_rgb": None, "scaling": "(x - mean_rgb) / std_rgb inside the graph", "crop": "center",
        "crop_fraction": 0.875 if folder == "timm-21k" else 1.0, "resize": "bicubic"}
    check_onnx(folder_dir / image["file"], {"image": ("uint8", [None, size, size, 3])}, image["outputs"])
    if folder == "timm-21k":
        assert set(image) == IMAGE_KEYS | {"classes"} and image["classes"] == "imagenet21k"
        assert image["outputs"] == {"features": [None, 320], "logits": [None, 21841]}
        assert image["input"]["mean_rgb"] == pytest.approx([123.675, 116.28, 103.53])
        return
    text = entries[f"{name}-text"]
    assert set(image) == IMAGE_KEYS | {"text_model", "logit_scale"} and set(text) == TEXT_KEYS
    assert image["text_model"] == f"{name}-text" and text["image_model"] == name
    assert image["outputs"] == text["outputs"] == {"embedding": [None, 64]}
    assert image["logit_scale"] == pytest.approx(1 / 0.07) and text["text_clean"] == "clip"
    assert image["input"]["mean_rgb"] == pytest.approx([255 * v for v in open_clip.OPENAI_DATASET_MEAN])
    assert (text["max_tokens"], text.get("context_length"), text["inputs"]) == (77, None, ["input_ids"])
    assert sha256_file(folder_dir / text["tokenizer"]) == text["tokenizer_sha256"]
    check_onnx(folder_dir / text["file"], {"input_ids": ("int64", [None, None])}, text["outputs"])  # any length


def test_write_card_merges(tmp_path):
    write_card(tmp_path, {"b": {"kind": "image"}})
    write_card(tmp_path, {"a": {"kind": "text"}, "b": {"kind": "text"}})
    assert json.loads((tmp_path / CARD).read_text()) == {"format": 1, "models": {"a": {"kind": "text"},
                                                                                 "b": {"kind": "text"}}}
    assert [p.name for p in tmp_path.iterdir()] == [CARD]


def test_openclip_checkpoint_file(test_models_dir, tmp_path):
    """Pretrained weights from a checkpoint file: the card names the file and its sha256; the graph has them."""
    config = tm.CLIP_CONFIGS["clip-vit"]
    torch.manual_seed(1)
    checkpoint = tmp_path / "weights.pt"
    torch.save(open_clip.CLIP(**config).state_dict(), checkpoint)
    entries = export_openclip("custom", tmp_path / "out", pretrained=str(checkpoint), name="vit", config=config)
    assert entries["vit"]["source"] | {"config": None} == {
        "open_clip": "custom", "config": None, "pretrained": str(checkpoint), "weights": "weights.pt",
        "weights_sha256": sha256_file(checkpoint)}
    model = load_openclip("custom", str(checkpoint), config)[0]
    ids = open_clip.get_tokenizer("ViT-B-32")(sentences()[:4])
    (embedding,) = session(tmp_path / "out" / "vit-text.onnx").run(["embedding"], {"input_ids": ids.numpy()})
    with torch.no_grad():
        assert max_diff(embedding, model.encode_text(ids, normalize=True)) <= TOLERANCE
    assert entries["vit"]["sha256"] != card(test_models_dir / "clip-vit")["test-clip-vit"]["sha256"]


def test_export_cli_timm_pretrained_from_cache(tmp_path):
    """tools/export_models.py --timm NAME:TAG reads timm's weights from the local Hugging Face cache (offline),
    infers the classes from the logits and merges into an existing card."""
    torch.manual_seed(1)
    net = timm.create_model("test_convnext", num_classes=1000)
    repo = tmp_path / "hub" / "models--timm--test_convnext.r160_in1k"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0" * 40)
    (repo / "snapshots" / ("0" * 40)).mkdir(parents=True)
    from safetensors.torch import save_file

    save_file(net.state_dict(), repo / "snapshots" / ("0" * 40) / "model.safetensors")
    out = tmp_path / "out"
    write_card(out, {"other": {"kind": "image"}})
    env = {**os.environ, "HF_HUB_CACHE": str(tmp_path / "hub"), "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "export_models.py"), "--timm",
                           "test_convnext:r160_in1k", "--out", str(out), "--name", "tiny"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    entries = card(out)
    assert set(entries) == {"other", "tiny"}
    entry = entries["tiny"]
    assert entry["classes"] == "imagenet1k" and entry["outputs"]["logits"] == [None, 1000]
    assert entry["source"] == {"timm": "test_convnext.r160_in1k", "pretrained": "r160_in1k",
                               "weights": "model.safetensors", "hf_hub_id": "timm/test_convnext.r160_in1k",
                               "weights_sha256": sha256_file(repo / "snapshots" / ("0" * 40) / "model.safetensors")}
    assert (entry["input"]["size"], entry["input"]["crop_fraction"], entry["input"]["mean_rgb"]) == \
        (160, 0.95, [127.5, 127.5, 127.5])
    batch = np.random.default_rng(0).integers(0, 256, (2, 160, 160, 3), dtype=np.uint8)
    (logits,) = session(out / entry["file"]).run(["logits"], {"image": batch})
    with torch.no_grad():
        assert max_diff(logits, net.eval()(torch.from_numpy(scale_pixels(batch, [127.5] * 3, [127.5] * 3)))) \
            <= TOLERANCE


def test_export_help_names_the_offline_cache():
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "export_models.py"), "--help"], capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(ROOT / "src")}, timeout=120)
    assert proc.returncode == 0 and "HF_HUB_OFFLINE=1" in proc.stdout and "--openclip" in proc.stdout


def test_timm_classes_file(tmp_path):
    """A TSV of class names gives the head its size (random weights) and is written next to the model."""
    classes = tmp_path / "mine.tsv"
    classes.write_text("id\tname\n" + "".join(f"c{i}\tclass {i}\n" for i in range(10)), encoding="utf-8")
    from zsclf.install.foreign import export_timm

    entry = export_timm("test_convnext", tmp_path / "out", pretrained=False, model_name="t", classes=str(classes))["t"]
    written = tmp_path / "out" / "t.classes.tsv"
    assert entry["classes"] == written.name and entry["classes_sha256"] == sha256_file(written)
    assert written.read_text(encoding="utf-8") == classes.read_text(encoding="utf-8")
    assert entry["outputs"]["logits"] == [None, 10] and entry["source"]["pretrained"] is False
