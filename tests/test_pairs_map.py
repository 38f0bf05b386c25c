"""The pairs map (bidirectional hinge rank loss): gradients against finite differences, learning a synthetic
map, residual start, folds that never share a photo (ported with the research that measured it)."""

from __future__ import annotations

import numpy as np
import pytest

from zsclf.core.vectors import normalize
from zsclf.learn.pairs_map import (
    PairsMapConfig,
    bidirectional_hinge,
    captions_of,
    cross_validate,
    kfold_splits,
    loss_and_grad,
    ridge_map,
    train_pairs_map,
)


def retrieval_report(sim, image_of):
    """The research's flat keys (i2t_R@5, t2i_R@1, …) from the project's report."""
    from zsclf.measure.retrieval import retrieval_report as report

    r = report(sim, image_of)
    return {f"{short}_{key}": value for long, short in (("image_to_text", "i2t"), ("text_to_image", "t2i"))
            for key, value in r[long].items()}


def numeric_grad(f, p, eps=1e-6):
    g = np.zeros_like(p)
    for idx in np.ndindex(p.shape):
        old = p[idx]
        p[idx] = old + eps
        up = f()
        p[idx] = old - eps
        down = f()
        p[idx] = old
        g[idx] = (up - down) / (2 * eps)
    return g


def test_hinge_by_hand():
    u = np.array([[1.0, 0.0], [0.0, 1.0]])
    v = np.array([[1.0, 0.0], [0.6, 0.8]])
    # s = [[1, .6], [0, .8]]; margin .5: image0->cap1: .5-1+.6=.1; cap1->image0: .5-.8+.6=.3; others 0
    loss, _, _ = bidirectional_hinge(u, v, 0.5)
    assert loss == pytest.approx((0.1 + 0.3) / 2)


@pytest.mark.parametrize("hardest", [False, True])
@pytest.mark.parametrize("with_base,text_map", [(False, False), (True, False), (True, True)])
def test_gradient_matches_finite_differences(hardest, with_base, text_map):
    rng = np.random.default_rng(0)
    b, f, d = 5, 6, 4
    x = rng.standard_normal((b, f))
    t = normalize(rng.standard_normal((b, d)))
    base = normalize(rng.standard_normal((b, d))) if with_base else None
    w = 0.3 * rng.standard_normal((d, f))
    a = 0.2 * rng.standard_normal((d, d)) if text_map else None
    margin = 0.5  # large: many active hinges
    _, gw, ga = loss_and_grad(w, x, t, margin, base, a, hardest)
    assert np.allclose(gw, numeric_grad(lambda: loss_and_grad(w, x, t, margin, base, a, hardest)[0], w), atol=1e-5)
    if text_map:
        assert np.allclose(ga, numeric_grad(lambda: loss_and_grad(w, x, t, margin, base, a, hardest)[0], a), atol=1e-5)


def synthetic(n=60, f=20, d=8, caps=3, noise=0.3, seed=0):
    rng = np.random.default_rng(seed)
    true = rng.standard_normal((d, f))
    x = normalize(rng.standard_normal((n, f)))
    ci = np.repeat(np.arange(n), caps)
    t = normalize(x[ci] @ true.T + noise * rng.standard_normal((n * caps, d)))
    return x, t, ci


def test_training_learns_a_synthetic_map():
    x, t, ci = synthetic()
    cfg = PairsMapConfig(init="random", epochs=150, lr=1e-2, patience=40, batch_size=16)
    model = train_pairs_map(x, t, ci, config=cfg)
    trained = retrieval_report(model.images(x) @ t.T, ci)
    chance = retrieval_report(normalize(np.random.default_rng(1).standard_normal((len(x), t.shape[1]))) @ t.T, ci)
    assert trained["t2i_R@5"] > 0.6 > chance["t2i_R@5"] + 0.3
    assert model.best_epoch >= 1 and model.history


def test_residual_starts_at_base_and_ridge():
    x, t, ci = synthetic(n=30)
    base = normalize(np.random.default_rng(2).standard_normal((30, t.shape[1])))
    cfg = PairsMapConfig(init="zeros", epochs=1, lr=0.0)
    model = train_pairs_map(x, t, ci, base=base, config=cfg)
    assert np.allclose(model.images(x, base), base, atol=1e-6)
    with pytest.raises(ValueError):
        train_pairs_map(x, t, ci, config=PairsMapConfig(init="zeros"))
    w = ridge_map(x, x[:, :3] * 2.0, alpha=1e-6)
    assert np.allclose(x @ w.T, x[:, :3] * 2.0, atol=1e-3)


def test_kfold_and_captions_of():
    splits = kfold_splits(10, 3, seed=0)
    tests = np.concatenate([te for _, te in splits])
    assert sorted(tests.tolist()) == list(range(10))
    for tr, te in splits:
        assert not set(tr) & set(te) and len(tr) + len(te) == 10
    ci = np.array([0, 0, 1, 2, 2, 2])
    rows, pos = captions_of(ci, np.array([2, 0]))
    assert rows.tolist() == [0, 1, 3, 4, 5] and pos.tolist() == [1, 1, 0, 0, 0]
    out = cross_validate(10, lambda tr, te: {"n": len(te)}, k=5)
    assert [o["n"] for o in out] == [2] * 5
