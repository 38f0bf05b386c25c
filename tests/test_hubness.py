"""Hubness corrections (CSLS, inverted softmax) against brute-force definitions, and query arithmetic (ported
with the research that chose them, see docs/retrieval.md)."""

from __future__ import annotations

import numpy as np
import pytest

from zsclf.core.hubness import (
    centre,
    csls_penalty,
    csls_scores,
    hub_occurrence,
    inverted_softmax_normaliser,
    inverted_softmax_scores,
    knn_mean_similarity,
    skewness,
)
from zsclf.core.vectors import normalize


def unit(rng, n, d=8):
    return normalize(rng.standard_normal((n, d)))


def test_knn_mean_similarity_brute_force():
    rng = np.random.default_rng(0)
    x, ref = unit(rng, 7), unit(rng, 11)
    sim = x @ ref.T
    want = np.sort(sim, axis=1)[:, -3:].mean(axis=1)
    assert np.allclose(knn_mean_similarity(x, ref, 3), want, atol=1e-6)


def test_knn_exclude_self():
    rng = np.random.default_rng(1)
    x = unit(rng, 6)
    sim = x @ x.T
    np.fill_diagonal(sim, -np.inf)
    want = np.sort(sim, axis=1)[:, -2:].mean(axis=1)
    assert np.allclose(knn_mean_similarity(x, x, 2, exclude_self=True), want, atol=1e-6)


def test_csls_formula_and_precomputed_penalty():
    rng = np.random.default_rng(2)
    q, t, qref = unit(rng, 5), unit(rng, 9), unit(rng, 13)
    k = 4
    s = q @ t.T
    r_t = np.sort(t @ qref.T, axis=1)[:, -k:].mean(axis=1)
    r_q = np.sort(q @ t.T, axis=1)[:, -k:].mean(axis=1)
    want = 2 * s - r_q[:, None] - r_t[None, :]
    assert np.allclose(csls_scores(q, t, qref, k), want, atol=1e-5)
    pen = csls_penalty(t, qref, k)
    assert np.allclose(csls_scores(q, t, None, k, target_penalty=pen), want, atol=1e-5)


def test_csls_demotes_a_hub():
    # target 0 sits at the centre of the query reference: the nearest target for every query
    rng = np.random.default_rng(3)
    centre_dir = normalize(np.ones((1, 8)))
    queries = normalize(centre_dir + 0.6 * rng.standard_normal((50, 8)))
    specific = normalize(queries[:10] + 0.05 * rng.standard_normal((10, 8)))
    targets = np.vstack([centre_dir, specific])
    plain = (queries[:10] @ targets.T).argmax(axis=1)
    fixed = csls_scores(queries[:10], targets, queries, k=5).argmax(axis=1)
    assert (fixed == np.arange(1, 11)).sum() >= (plain == np.arange(1, 11)).sum()
    assert (fixed == 0).sum() <= (plain == 0).sum()


def test_inverted_softmax_matches_definition():
    rng = np.random.default_rng(4)
    q, t, ref = unit(rng, 3), unit(rng, 4), unit(rng, 6)
    beta = 7.0
    want = np.log(np.exp(beta * q @ t.T) / np.exp(beta * ref @ t.T).sum(axis=0, keepdims=True))
    assert np.allclose(inverted_softmax_scores(q, t, ref, beta), want, atol=1e-5)
    z = inverted_softmax_normaliser(t, ref, beta)
    assert np.allclose(inverted_softmax_scores(q, t, None, beta, normaliser=z), want, atol=1e-5)


def test_inverted_softmax_large_beta_is_finite():
    rng = np.random.default_rng(5)
    q, t = unit(rng, 3), unit(rng, 4)
    assert np.isfinite(inverted_softmax_scores(q, t, q, beta=1000.0)).all()


def test_centre_and_hub_occurrence():
    x = np.array([[1.0, 1.0], [1.0, -1.0]])
    c = centre(x, x.mean(axis=0))
    assert np.allclose(c, [[0, 1], [0, -1]])
    sim = np.array([[0.9, 0.1, 0.0], [0.8, 0.2, 0.1], [0.7, 0.0, 0.6]])
    assert hub_occurrence(sim, 1).tolist() == [3, 0, 0]
    assert skewness(np.array([1.0, 1.0, 1.0])) == 0.0
    assert skewness(np.array([0.0, 0.0, 0.0, 10.0])) > 1.0


def test_errors():
    with pytest.raises(ValueError):
        knn_mean_similarity(np.ones((2, 3)), np.ones((3, 3)), exclude_self=True)


def test_arithmetic_compose_by_hand():
    from zsclf.core.arithmetic import compose, unit

    base, dog = np.array([1.0, 0.0, 0.0]), np.array([0.0, 2.0, 0.0])  # dog gets normalised
    assert np.allclose(unit(compose(base, plus=[dog])), [2 ** -0.5, 2 ** -0.5, 0.0])
    assert np.allclose(unit(compose(base, minus=[dog], weight=0.5)), np.array([1.0, -0.5, 0.0]) / np.sqrt(1.25))
    assert np.allclose(compose(None, plus=[dog], minus=[dog]), 0.0)  # nothing left: the caller refuses it
    assert np.allclose(unit(compose(None, plus=[dog], weight=3.0)), [0.0, 1.0, 0.0])
