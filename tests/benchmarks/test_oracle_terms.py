"""The oracle's terms add up to the world's click logit, and the term diagnostics are right."""

import numpy as np

from benchmarks.oracle_terms import TERMS, oracle_terms, term_ablation, term_fit
from recsys.data.synthetic import DAY, SyntheticConfig, World
from recsys.evaluation.metrics import auc


def test_terms_sum_to_the_click_logit_without_its_bias():
    cfg = SyntheticConfig(num_users=30, num_items=40, num_events=100)
    world = World.build(cfg)
    rng = np.random.default_rng(0)
    users, items = rng.integers(0, 30, 200), rng.integers(0, 40, 200)
    t = cfg.start_time + rng.integers(0, cfg.days * DAY, 200)
    terms = oracle_terms(world, users, items, t)
    assert tuple(terms) == TERMS
    np.testing.assert_allclose(sum(terms.values()), world.click_logit(users, items, t) - world.bias,
                               rtol=0, atol=1e-9)
    # freshness: W_REC = 0.8 for an item listed at the request, and 0.8/e after TAU_DAYS = 7 days
    i = np.array([5, 5])
    at = world.item_release[i] + np.array([0, 7 * DAY])
    np.testing.assert_allclose(oracle_terms(world, [0, 0], i, at)["freshness"], [0.8, 0.8 / np.e])


def test_term_fit_recovers_the_weights_of_a_known_mix():
    rng = np.random.default_rng(1)
    terms = {k: rng.normal(size=500) for k in TERMS}
    # a "ranker" carrying dot fully, affinity half, price not at all, plus an offset of 2
    logits = terms["dot"] + 0.5 * terms["affinity"] + terms["popularity"] + terms["freshness"] + 2.0
    fit = term_fit(logits, terms)
    np.testing.assert_allclose([fit["coefficients"][k] for k in TERMS], [1.0, 0.5, 0.0, 1.0, 1.0],
                               atol=1e-9)
    assert abs(fit["r2"] - 1.0) < 1e-9


def test_term_ablation_by_hand():
    # 4 examples, labels 0 0 1 1; "a" ranks them perfectly alone, "b" perfectly backwards
    y = np.array([0.0, 0.0, 1.0, 1.0])
    terms = {"a": np.array([0.0, 1.0, 2.0, 3.0]), "b": np.array([0.3, 0.2, 0.1, 0.0])}
    out = term_ablation(y, terms, auc)
    assert out["a"]["alone"] == 1.0 and out["b"]["alone"] == 0.0
    assert out["a"]["oracle_without"] == 0.0  # without a, only b's backwards order is left
    assert out["b"]["oracle_without"] == 1.0  # a + b = 0.3, 1.2, 2.1, 3.0: still perfect


def test_dot_proxies_by_hand():
    cfg = SyntheticConfig(num_users=5, num_items=12, num_events=10, num_categories=2, latent_dim=2)
    world = World.build(cfg)
    from benchmarks.oracle_terms import dot_proxies
    q, p, cats = world.item_factor, world.user_factor, world.item_category
    out = dot_proxies(world, [1, 2], [3, 4], [[0, 5], []])
    c3 = q[cats == cats[3]].mean(0)
    np.testing.assert_allclose(out["user_category"][0], p[1] @ c3)
    np.testing.assert_allclose(out["history_similarity"], [((q[0] + q[5]) / 2) @ q[3], 0.0])
