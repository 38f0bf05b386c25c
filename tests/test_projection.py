"""ConSE on hand-made cases, and the seen-class cache."""

from __future__ import annotations

import numpy as np
import pytest

from zsclf.core.vectors import softmax
from zsclf.pipeline.projection import ConSE
from zsclf.pipeline.seen import cached_seen_embeddings


def test_softmax_is_stable_and_sums_to_one():
    p = softmax(np.array([[1000.0, 1000.0, -1000.0]], dtype=np.float32))
    assert np.allclose(p, [[0.5, 0.5, 0.0]])


def test_conse_mixes_top_t_seen_embeddings_by_probability():
    seen = np.eye(4, dtype=np.float32)
    logits = np.log(np.array([[0.6, 0.3, 0.08, 0.02]], dtype=np.float32))
    out = ConSE(seen, top_t=2).project(None, logits)
    expected = np.array([0.6, 0.3, 0, 0]) / np.linalg.norm([0.6, 0.3])
    assert np.allclose(out, [expected], atol=1e-6)
    assert np.allclose(np.linalg.norm(ConSE(seen, top_t=4).project(None, logits), axis=1), 1.0)


def test_conse_temperature_flattens_the_mix():
    seen = np.eye(4, dtype=np.float32)
    logits = np.log(np.array([[0.6, 0.3, 0.08, 0.02]], dtype=np.float32))
    hot = ConSE(seen, top_t=2, temperature=2.0).project(None, logits)
    p = np.sqrt([0.6, 0.3])  # softmax(log p / 2) over the top 2 is proportional to sqrt(p)
    assert np.allclose(hot, [np.array([p[0], p[1], 0, 0]) / np.linalg.norm(p)], atol=1e-6)
    assert np.allclose(ConSE(seen, 2, 1.0).project(None, logits), ConSE(seen, 2).project(None, logits))
    with pytest.raises(ValueError):
        ConSE(seen, 2, temperature=0.0)


def test_conse_top_1_is_the_argmax_embedding():
    rng = np.random.default_rng(0)
    seen = rng.standard_normal((10, 5)).astype(np.float32)
    seen /= np.linalg.norm(seen, axis=1, keepdims=True)
    logits = rng.standard_normal((3, 10)).astype(np.float32)
    out = ConSE(seen, top_t=1).project(None, logits)
    assert np.allclose(out, seen[logits.argmax(1)], atol=1e-6)


def test_seen_embeddings_are_cached_and_keyed_by_template(tmp_path):
    calls = []

    def embed(texts):
        calls.append(list(texts))
        return np.ones((len(texts), 4), dtype=np.float32)

    a = cached_seen_embeddings("sha", "name", ["x", "y"], embed, cache=tmp_path)
    b = cached_seen_embeddings("sha", "name", ["x", "y"], embed, cache=tmp_path)
    cached_seen_embeddings("sha", "photo", ["x", "y"], embed, cache=tmp_path)
    assert len(calls) == 2 and np.allclose(a, b) and np.allclose(np.linalg.norm(a, axis=1), 1)
    assert len(list(tmp_path.glob("seen-*.npy"))) == 2


def test_visual_projection_transforms():
    from zsclf.pipeline.projection import VisualProjection

    features = np.array([[4.0, 1.0, 0.0], [1.0, 1.0, 1.0]], dtype=np.float32)
    mean = np.array([1.0, 1.0, 1.0], dtype=np.float32)
    centred = VisualProjection(mean, "centre").project(features, None)
    assert np.allclose(centred[0], np.array([3, 0, -1]) / np.sqrt(10), atol=1e-6)
    assert np.allclose(centred[1], 0)  # the expected feature itself carries no direction
    rooted = VisualProjection(mean, "sqrt").project(features, None)
    assert np.allclose(rooted[0], np.array([2, 1, 0]) / np.sqrt(5))


def test_seen_gate_answers_confident_images_with_the_cnn_classes():
    from zsclf.index.label_index import SearchResult
    from zsclf.pipeline.seen import apply_seen_gate

    result = SearchResult(scores=np.array([[0.9, 0.8, 0.7], [0.9, 0.8, 0.7]], np.float32),
                          rows=np.array([[5, 6, 7], [5, 6, 7]]))
    probs = np.array([[0.7, 0.2, 0.1], [0.4, 0.35, 0.25]], np.float32)
    class_rows = np.array([6, -1, 9])  # class 0 is row 6, class 1 is not in the index, class 2 is row 9
    gated, mask = apply_seen_gate(result, probs, class_rows, gate=0.5)
    assert gated.rows[0].tolist() == [6, 9, 5]  # seen classes in CNN order, then earlier answers
    assert np.allclose(gated.scores[0], [0.7, 0.1, 0.9])
    assert gated.rows[1].tolist() == [5, 6, 7]  # below the gate: untouched
    assert mask.tolist() == [True, False]
    # a confident class the index lacks does not trigger the gate
    _, mask = apply_seen_gate(SearchResult(result.scores[:1], result.rows[:1]),
                              np.array([[0.1, 0.8, 0.1]], np.float32), class_rows, gate=0.5)
    assert mask.tolist() == [False]
