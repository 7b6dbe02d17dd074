"""The neighbourhood predictors of benchmarks/ranking_headroom.py: hand-derived values, and no
predictor of an eval rating ever sees that rating."""

import numpy as np
import pytest

from benchmarks.ranking_headroom import (SHRINK, Ratings, baseline, knn, neighbourhood_predictors,
                                         similarities)


def ratings(rows, is_eval=None) -> Ratings:
    """rows: (user, item, rating, time)."""
    u, i, r, t = (np.asarray(c) for c in zip(*rows))
    mask = np.zeros(len(rows), bool) if is_eval is None else np.asarray(is_eval)
    return Ratings(user=u, item=i, rating=r.astype(float), time=t, is_eval=mask, serialized=[])


def test_knn_is_the_similarity_weighted_mean_residual():
    # (0.9 * 1 - 0.5 * 2 + 0.1 * -1) / (0.9 + 0.5 + 0.1)
    assert knn(np.array([0.9, -0.5, 0.1]), np.array([1.0, 2.0, -1.0])) == pytest.approx(-0.2 / 1.5)
    assert knn(np.array([]), np.array([])) == 0.0
    assert knn(np.array([0.0, 0.0]), np.array([1.0, 2.0])) == 0.0


def test_similarity_is_shrunk_pearson_over_shared_columns():
    rows, cols = np.array([0, 0, 1, 1, 2, 2, 3]), np.array([0, 1, 0, 1, 0, 1, 2])
    residual = np.array([1.0, -1.0, 1.0, -1.0, -2.0, 2.0, 5.0])
    s = similarities(rows, cols, residual, 4, 3)
    shrink = 2 / (2 + SHRINK)  # two co-rated columns
    assert s[0, 1] == pytest.approx(shrink)        # identical residuals
    assert s[0, 2] == pytest.approx(-shrink)       # opposite (scale does not matter)
    assert s[0, 3] == 0.0 and s[3, 0] == 0.0       # nothing in common
    assert np.diag(s).tolist() == [0.0] * 4        # a row is not its own neighbour
    np.testing.assert_allclose(s, s.T)


def test_baseline_recovers_additive_ratings_without_regularisation():
    # r = 3 + b_u + b_i with b_u = (+0.5, -0.5), b_i = (+1, -1): fully observed, so exact.
    rows = [(u, i, 3 + bu + bi, 0) for u, bu in ((0, 0.5), (1, -0.5)) for i, bi in ((0, 1.0), (1, -1.0))]
    r = ratings(rows)
    np.testing.assert_allclose(baseline(r, np.ones(4, bool), reg_user=0.0, reg_item=0.0, iterations=30),
                               r.rating, atol=1e-6)


def test_no_predictor_of_an_eval_rating_sees_that_rating():
    rng = np.random.default_rng(0)
    rows = [(u, i, float(rng.integers(1, 6)), int(rng.integers(0, 50))) for u in range(12) for i in range(9)
            if rng.random() < 0.7]
    is_eval = rng.random(len(rows)) < 0.25
    before = neighbourhood_predictors(ratings(rows, is_eval))
    target = int(np.flatnonzero(is_eval)[0])
    changed = list(rows)
    u, i, r, t = changed[target]
    changed[target] = (u, i, 6.0 - r if r != 3.0 else 5.0, t)
    after = neighbourhood_predictors(ratings(changed, is_eval))
    position = 0  # the target is the first eval rating
    for name in before:
        assert after[name][position] == before[name][position], name


def test_causal_predictors_use_only_earlier_ratings():
    # User 0 rates item 0 at t=0 (eval) and items 1, 2 later; user 1 rates everything at t=0..2.
    rows = [(0, 0, 5.0, 0), (0, 1, 1.0, 5), (0, 2, 4.0, 6), (1, 0, 4.0, 0), (1, 1, 2.0, 1), (1, 2, 5.0, 2)]
    is_eval = [True, False, False, False, False, False]
    p = neighbourhood_predictors(ratings(rows, is_eval))
    assert p["item_knn_causal"][0] == 0.0   # user 0 has no rating before t=0
    assert p["user_knn_causal"][0] == 0.0   # item 0's other rating is at the same second
    assert p["item_knn"][0] != 0.0          # the transductive one sees user 0's later ratings
