"""Calibrated stacking: exact critical gammas, AUSUC, H and the choice of gamma (learn.stacking), the exact
two-search stacked ranking (pipeline.stacking) and `--seen-penalty` in the Classifier."""

from __future__ import annotations

import numpy as np
import pytest

from test_classifier import fake_classifier, photos  # noqa: F401 (fixture)
from zsclf.learn.stacking import (
    accuracy_at,
    ausuc,
    best_gamma,
    critical_gamma,
    curve,
    harmonic_mean,
    stacking_summary,
)
from zsclf.pipeline.stacking import merge_stacked


def random_problem(seed=0, n=60, labels=12, n_seen=6):
    rng = np.random.default_rng(seed)
    scores = rng.normal(size=(n, labels))
    seen_mask = np.zeros(labels, dtype=bool)
    seen_mask[:n_seen] = True
    truth = rng.integers(0, labels, n)
    scores[np.arange(n), truth] += 0.8  # some signal
    return scores, truth, seen_mask


def hits_with_gamma(scores, truth, seen_mask, gamma, k):
    adj = scores - gamma * seen_mask[None, :]
    return (adj > adj[np.arange(len(truth)), truth][:, None]).sum(axis=1) < k


@pytest.mark.parametrize("k", [1, 2, 3])
def test_critical_gamma_matches_brute_force(k):
    scores, truth, seen_mask = random_problem()
    crit = critical_gamma(scores, truth, seen_mask, k)
    t_seen = seen_mask[truth]
    for g in np.linspace(-3, 3, 61):
        predicted = np.where(t_seen, crit >= g, crit <= g)
        assert (hits_with_gamma(scores, truth, seen_mask, g, k) == predicted).all()


def test_ausuc_h_and_best_gamma_by_hand():
    # 2 labels: 0 seen, 1 unseen. Seen photo: scores (1, 0); unseen photo: scores (1, 0.5)
    seen_mask = np.array([True, False])
    crit = critical_gamma(np.array([[1.0, 0.0], [1.0, 0.5]]), np.array([0, 1]), seen_mask, 1)
    assert crit.tolist() == [1.0, 0.5]  # seen hit iff gamma <= 1, unseen hit iff gamma >= 0.5
    assert ausuc(crit[:1], crit[1:]) == pytest.approx(1.0)  # a gamma in [0.5, 1] gets both right
    assert 0.5 <= best_gamma(crit[:1], crit[1:]) <= 1.0
    s, u = accuracy_at(crit[:1], crit[1:], np.array([0.0, 0.75, 2.0]))
    assert s.tolist() == [1.0, 1.0, 0.0] and u.tolist() == [0.0, 1.0, 1.0]
    # the reverse case: no gamma gets both; the curve goes (1, 0) -> (0, 0) -> (0, 1), area 0
    crit2 = critical_gamma(np.array([[1.0, 0.5], [1.0, 0.0]]), np.array([0, 1]), seen_mask, 1)
    assert crit2.tolist() == [0.5, 1.0] and ausuc(crit2[:1], crit2[1:]) == pytest.approx(0.0)
    g, s, u = curve(crit2[:1], crit2[1:])
    assert s[0] == 1.0 and u[-1] == 1.0
    assert harmonic_mean(1.0, 0.25) == pytest.approx(0.4) and harmonic_mean(0.0, 0.0) == 0.0
    summary = stacking_summary({1: (crit[:1], crit[1:])}, 0.75)
    assert summary["h"]["@1"] == {"gamma=0": 0.0, "gamma=0.75": 1.0}


def test_best_gamma_is_zero_when_zero_is_as_good():
    scores, truth, seen_mask = random_problem(3)
    crit = critical_gamma(scores, truth, seen_mask, 5)
    cs, cu = crit[seen_mask[truth]], crit[~seen_mask[truth]]
    g = best_gamma(cs, cu)
    h = harmonic_mean(*accuracy_at(cs, cu, np.array([g, 0.0])))
    assert h[0] >= h[1]
    assert g == 0.0 or h[0] > h[1]
    never = np.array([np.nan])  # "never a hit" photos do not move the choice
    assert best_gamma(np.r_[cs, never], cu) == best_gamma(cs, cu)


def test_never_hit_is_nan():
    crit = critical_gamma(np.array([[0.0, 5.0, 4.0]]), np.array([0]), np.array([True, True, False]), 1)
    assert np.isnan(crit[0])
    assert accuracy_at(crit, np.array([]), np.array([-np.inf, 0.0]))[0].tolist() == [0.0, 0.0]


def test_merge_of_two_searches_equals_the_full_stacked_ranking():
    scores, _, seen_mask = random_problem(4, n=20, labels=15, n_seen=5)
    k, gamma = 4, 0.7
    seen_cols, other_cols = np.flatnonzero(seen_mask), np.flatnonzero(~seen_mask)

    def top(cols):
        order = np.argsort(-scores[:, cols], axis=1)[:, :k]
        return np.take_along_axis(scores[:, cols], order, axis=1), cols[order]

    got = merge_stacked(*top(seen_cols), *top(other_cols), gamma, k)
    full = scores - gamma * seen_mask[None, :]
    want = np.argsort(-full, axis=1)[:, :k]
    assert (got.rows == want).all()
    assert np.allclose(got.scores, np.take_along_axis(full, want, axis=1))


def test_seen_penalty_moves_seen_labels_down(photos):  # noqa: F811
    clf, _ = fake_classifier()
    (plain,) = clf.predict_paths([photos["green"]], top_k=4)
    assert [p.label for p in plain.predictions][:2] == ["green", "other"]
    clf.seen_penalty = 0.5  # green (seen) 1.0 - 0.5 falls behind other (unseen) ~0.59
    (stacked,) = clf.predict_paths([photos["green"]], top_k=4)
    assert [p.label for p in stacked.predictions][:2] == ["other", "green"]
    assert stacked.predictions[1].score == pytest.approx(plain.predictions[0].score - 0.5, abs=1e-5)
    clf.seen_penalty = -10.0  # seen labels first, whatever their scores
    (boosted,) = clf.predict_paths([photos["green"]], top_k=4)
    assert [p.label for p in boosted.predictions][3] == "other"
