"""Hedged answers (pipeline.hedging), the novelty score (pipeline.seen) and the fitting procedure
(learn.hedge_fit) on tiny hand-checked hierarchies and synthetic data; which fit applies to which index."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from zsclf.core import typed_json
from zsclf.errors import ZsclfError
from zsclf.index.meta import FileCheck, FittedFor, HedgingModel, IndexMeta, LambdaTable, SeenScore
from zsclf.learn import hedge_fit
from zsclf.measure.gzsl import auroc
from zsclf.models.registry import ModelRef
from zsclf.pipeline import hedging
from zsclf.pipeline.hedging import Hedger, answer_nodes, choose_fit, darts_lambda, fit_problem, mixture, softmax_t
from zsclf.pipeline.hierarchy import Hierarchy
from zsclf.pipeline.seen import energy, seen_probability
from zsclf.pipeline.taxonomy import Taxonomy

HYP = {"entity": [], "animal": ["entity"], "bird": ["animal"], "dog": ["animal"],
       "finch": ["bird"], "warbler": ["bird"], "plant": ["entity"]}
LABELS = ["finch", "warbler", "dog", "plant"]
IMAGE = ModelRef("efficientnet-lite0", "a" * 64, 1280)


def model(**changes) -> HedgingModel:
    base = HedgingModel(
        cnn_temperature=1.0, index_temperature=0.1, top_k=3, min_prob=0.0, seen=SeenScore(1.0, -5.0),
        darts_lambda=LambdaTable([0.5, 0.9], [0.0, 3.0]), seen_penalty=0.0,
        fitted_for=FittedFor(IMAGE, "all-minilm-l6-v2", "gloss", "conse top-t 10", 4, "0badf00d"), fitted_on="test")
    return replace(base, **changes)


def meta(crc: str = "0badf00d", count: int = 4, hedging_fit: HedgingModel | None = None) -> IndexMeta:
    return IndexMeta(format=2, kind="flat", metric="inner_product", dim=4, count=count, space="text",
                     template="gloss", text_encoder=ModelRef("all-minilm-l6-v2", "b" * 64, 384),
                     files={"labels.tsv": FileCheck(10, crc), "index.faiss": FileCheck(10, "00000000")},
                     hedging=hedging_fit)


def test_softmax_temperature():
    assert softmax_t(np.array([[0.0, np.log(3.0)]]), 1.0)[0].tolist() == pytest.approx([0.25, 0.75])
    assert softmax_t(np.array([[0.0, np.log(3.0)]]), 0.5)[0].tolist() == pytest.approx([0.1, 0.9])
    assert softmax_t(np.array([[0.0, -np.inf]]), 1.0)[0].tolist() == [1.0, 0.0]


def test_threshold_and_darts_by_hand():
    h = Hierarchy.build(LABELS, HYP)
    gain = h.info_gain  # N = 4: leaves 2 bits, bird 1 bit, animal log2(4/3), entity 0
    mass = h.node_mass(np.array([[0.5, 0.35, 0.1, 0.05]]))
    assert mass[0, h.node_id("bird")] == pytest.approx(0.85)

    def pick(p, rule, lam=0.0):
        return h.nodes[answer_nodes(mass, gain, p, rule, lam)[0]]

    assert [pick(p, "threshold") for p in (0.5, 0.8, 0.9, 0.99)] == ["finch", "bird", "animal", "entity"]
    # DARTS: (gain + lam) * p. lam 0: finch 2 * 0.5 = 1.0 beats bird 1 * 0.85; lam 2: bird 2.55 beats
    # finch 2.0 and animal 2.415 * 0.95 = 2.29; a huge lam: the root
    assert [pick(0, "darts", lam) for lam in (0.0, 2.0, 1000.0)] == ["finch", "bird", "entity"]


def test_darts_lambda_table_interpolates_in_log1p():
    m = model(darts_lambda=LambdaTable([0.5, 0.9], [0.0, 3.0]))
    assert darts_lambda(m, 0.5) == pytest.approx(0.0) and darts_lambda(m, 0.9) == pytest.approx(3.0)
    assert darts_lambda(m, 0.7) == pytest.approx(np.expm1(np.log1p(3.0) / 2))


def test_mixture_weighs_the_cnn_by_p_seen():
    m = model(seen=SeenScore(0.0, np.log(1 / 3)), cnn_temperature=1.0, index_temperature=1.0)  # P(seen) = 1/4
    logits = np.log(np.array([[0.8, 0.2]]))
    probs, rows = mixture(m, logits, np.log(np.array([[0.6, 0.4]])), np.array([[7, 9]]), np.array([5, 7]))
    assert probs[0].tolist() == pytest.approx([0.2, 0.05, 0.45, 0.3]) and rows.tolist() == [[5, 7, 7, 9]]


def test_energy_and_seen_probability():
    logits = np.array([[1.0, 2.0, 3.0]])
    assert energy(logits)[0] == pytest.approx(np.log(np.exp(logits).sum()))
    assert energy(logits, 0.5)[0] == pytest.approx(0.5 * np.log(np.exp(logits / 0.5).sum()))
    p = seen_probability(SeenScore(2.0, -2.0 * energy(logits)[0]), logits)
    assert p[0] == pytest.approx(0.5)


def test_auroc_by_hand():
    assert auroc(np.array([3.0, 4.0]), np.array([1.0, 2.0])) == 1.0
    assert auroc(np.array([2.0, 4.0]), np.array([1.0, 3.0])) == pytest.approx(0.75)
    assert auroc(np.array([1.0]), np.array([1.0])) == pytest.approx(0.5)  # a tie counts one half
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 5, 40).astype(float), rng.integers(0, 5, 30).astype(float)
    pairs = (a[:, None] > b[None, :]).mean() + 0.5 * (a[:, None] == b[None, :]).mean()
    assert auroc(a, b) == pytest.approx(pairs)
    assert np.isnan(auroc(np.array([]), np.array([1.0])))


def test_hierarchical_nll_and_temperature_fit():
    s = np.log(np.array([[1.0, 2.0, 1.0]]))  # probabilities 1/4, 1/2, 1/4
    assert hedge_fit.hierarchical_nll(s, np.array([1]), 1.0) == pytest.approx(np.log(2))
    assert hedge_fit.hierarchical_nll(s, np.array([[True, False, True]]), 1.0) == pytest.approx(np.log(2))
    both, mask = np.vstack([s, s]), np.array([[True, True, False], [False, False, False]])
    assert hedge_fit.hierarchical_nll(both, mask, 1.0) == pytest.approx(-np.log(0.75))  # empty truth skipped
    assert hedge_fit.hierarchical_nll(both, mask, 1.0, floor=0.01) == pytest.approx((-np.log(0.75) - np.log(0.01)) / 2)
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(4000, 20))
    labels = np.array([rng.choice(20, p=row) for row in softmax_t(scores, 0.5)])
    assert hedge_fit.fit_temperature(scores, labels, 0.05, 20.0) == pytest.approx(0.5, rel=0.08)


def test_fit_logistic_recovers_parameters():
    rng = np.random.default_rng(0)
    x = rng.normal(size=20000) * 3
    y = rng.random(20000) < 1 / (1 + np.exp(-(1.5 * x - 2.0)))
    a, b = hedge_fit.fit_logistic(x, y)
    assert a == pytest.approx(1.5, rel=0.06) and b == pytest.approx(-2.0, rel=0.06)
    assert hedge_fit.balanced_weights(np.array([True, False, False, False])).tolist() == pytest.approx(
        [2.0, 2 / 3, 2 / 3, 2 / 3])


def test_darts_lambda_fit_meets_each_target_and_pareto_candidates_suffice():
    h = Hierarchy.build(LABELS, HYP)
    rng = np.random.default_rng(1)
    probs = softmax_t(rng.normal(size=(300, 4)) * 2, 1.0)
    truth = np.array([rng.choice(4, p=p) for p in probs])  # calibrated by construction
    mass = h.node_mass(probs)
    correct = [h.correct_nodes(LABELS[t], HYP) for t in truth]
    nodes, cmass, cgain = hedge_fit.pareto_candidates(mass, h.info_gain)
    for lam in (0.0, 0.3, 1.0, 5.0, 100.0):  # the best candidate is as good as the best node
        key = (h.info_gain + lam) * mass
        fast = nodes[np.arange(300), ((cgain + lam) * cmass).argmax(axis=1)]
        assert np.allclose(key[np.arange(300), fast], key.max(axis=1))
    right = np.array([[v in correct[i] for v in row] for i, row in enumerate(nodes.tolist())]) & (nodes >= 0)
    lams = hedge_fit.fit_lambda_table(cmass, cgain, right, np.ones(300, dtype=bool), (0.6, 0.8, 0.95))
    assert lams == sorted(lams)
    for p, lam in zip((0.6, 0.8, 0.95), lams, strict=True):
        ans = answer_nodes(mass, h.info_gain, p, "darts", lam)
        assert np.mean([a in c for a, c in zip(ans.tolist(), correct, strict=True)]) >= p


def test_hedger_answers_carry_names_ids_probabilities_and_depths():
    h = Hierarchy.build(LABELS, HYP)
    names = [f"name of {n}" for n in h.nodes]
    hedger = Hedger(model(seen=SeenScore(0.0, -50.0)), Taxonomy(h, names, list(h.nodes), np.array([0, 2])))
    scores, rows = np.array([[0.9, 0.8, 0.1]]), np.array([[0, 1, 3]])  # finch, warbler, plant
    (answer,) = hedger.hedge(np.zeros((1, 2)), scores, rows, 0.9)
    assert answer.label == "name of bird" and answer.id == "bird" and answer.depth == 2
    index = np.exp([9.0, 8.0, 1.0]) / np.exp([9.0, 8.0, 1.0]).sum()  # softmax(scores / 0.1); P(seen) ~ 0
    assert answer.probability == pytest.approx(index[0] + index[1], abs=1e-5)
    with pytest.raises(ZsclfError, match="covers P = 0.5 to 0.9"):
        hedger.check_target(0.95, "darts")
    hedger.check_target(0.95, "threshold")
    with pytest.raises(ZsclfError, match="--hedge-rule"):
        hedger.check_target(0.9, "best")


def test_which_fit_applies(monkeypatch):
    own = model()
    assert choose_fit(meta(hedging_fit=own), "idx", IMAGE, "conse top-t 10") is own
    assert "image model" in fit_problem(own, meta(), ModelRef("other", "c" * 64), "conse top-t 10")
    assert "projection" in fit_problem(own, meta(), IMAGE, "conse top-t 5")
    assert "label set" in fit_problem(own, meta(crc="12345678"), IMAGE, "conse top-t 10")
    with pytest.raises(ZsclfError, match="does not apply.*calibrate"):
        choose_fit(meta(hedging_fit=own), "idx", IMAGE, "conse top-t 5")
    monkeypatch.setattr(hedging, "shipped_defaults", lambda: own)  # no own fit: the shipped one, if it fits
    assert choose_fit(meta(), "idx", IMAGE, "conse top-t 10") is own
    with pytest.raises(ZsclfError, match=r"no hedging fit of its own.*zsclf calibrate PHOTOS\.\.\. --index idx"):
        choose_fit(meta(crc="12345678"), "idx", IMAGE, "conse top-t 10")
    # P(seen) depends on the image model only: the shipped one serves any index for it
    assert hedging.seen_score_for(meta(crc="12345678"), IMAGE) == own.seen
    assert hedging.seen_score_for(meta(), ModelRef("other", "c" * 64)) is None


def test_model_roundtrips_through_json_and_bad_numbers_are_refused(tmp_path):
    m = model(photos={"seen": 3, "unseen": 4}, stacking={"h5_at_zero": 0.1})
    path = tmp_path / "fit.json"
    path.write_text(json.dumps(typed_json.dump(m)))
    assert typed_json.read(HedgingModel, path, "fit") == m
    with pytest.raises(ZsclfError, match="temperatures must be positive"):
        hedging.check_model(model(index_temperature=0.0), "x.json")
    with pytest.raises(ZsclfError, match="darts_lambda"):
        hedging.check_model(model(darts_lambda=LambdaTable([0.9, 0.5], [0.0, 1.0])), "x.json")


def test_the_shipped_defaults_are_valid_and_made_for_the_default_index():
    shipped = hedging.shipped_defaults()
    assert shipped is not None
    assert shipped.fitted_for.labels == 21841 and shipped.fitted_for.projection == "conse top-t 10"
    assert shipped.seen_penalty == 0.0 and shipped.top_k == 200
    assert "zsclf calibrate" in shipped.about and "half a" in shipped.about
