"""ONNX exports vs their PyTorch originals (needs the `export` extra; skipped without torch)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from conftest import IMAGES, ROOT
from zsclf.data.labels import read_labels
from zsclf.pipeline.images import load_and_preprocess

torch = pytest.importorskip("torch", reason="parity checks need the export extra (torch)")
sys.path.insert(0, str(ROOT / "tools"))
import export_models  # noqa: E402

PHOTOS = ["chelsea.png", "coffee.png", "rocket.jpg", "grace_hopper.jpg", "flower.jpg"]


def test_image_encoder_matches_pytorch(image_encoder):
    batch = np.stack([load_and_preprocess(IMAGES / p, image_encoder.preprocess) for p in PHOTOS])
    features, logits = image_encoder.encode(batch)
    model, _ = export_models.load_image_model(image_encoder.name)
    net = model.net  # the package's own EfficientNet, fed float NCHW scaled outside the graph
    x = torch.from_numpy(image_encoder.preprocess.scale(batch))
    with torch.no_grad():
        ref_logits = net(x).numpy()  # its own forward: pooling, dropout (eval), classifier
        ref_features = net.extract_features(x).mean(dim=(2, 3)).numpy()
    feature_diff = np.abs(features - ref_features).max()
    logit_diff = np.abs(logits - ref_logits).max()
    print(f"\nparity image: max |features diff| {feature_diff:.2e}, max |logits diff| {logit_diff:.2e}")
    assert feature_diff <= 1e-4 and logit_diff <= 1e-4
    assert logits.argmax(1)[1] == 967  # coffee -> espresso


def test_text_encoder_matches_sentence_transformers(models_ready):
    """The float export (the int8 sibling is compared with it in tests/test_text_int8.py)."""
    from sentence_transformers import SentenceTransformer

    from zsclf.models.text_encoder import TextEncoder

    text_encoder = TextEncoder.load("all-minilm-l6-v2")
    labels = read_labels(ROOT / "labels" / "imagenet21k.tsv")
    step = len(labels) // 40
    texts = labels.texts("name")[::step][:40] + labels.texts("gloss")[::step * 2][:20]
    texts.append("a very long label " * 100)  # longer than 256 tokens: truncation must agree
    ours = text_encoder.embed(texts, batch_size=16)
    st = SentenceTransformer(str(export_models.text_model_dir()), device="cpu")
    ref = st.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    cosine = (ours * ref).sum(1)
    print(f"\nparity text: {len(texts)} strings, min cosine {cosine.min():.6f}, mean {cosine.mean():.6f}")
    assert len(texts) >= 50 and cosine.min() >= 0.9999
