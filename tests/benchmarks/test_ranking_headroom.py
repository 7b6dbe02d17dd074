"""The neighbourhood predictors of benchmarks/ranking_headroom.py: no predictor of an eval rating
ever sees that rating, and the causal ones see only earlier ratings (the fitting itself is tested
in test_neighbourhood.py)."""

import numpy as np

from benchmarks.ranking_headroom import Ratings, neighbourhood_predictors


def ratings(rows, is_eval=None) -> Ratings:
    """rows: (user, item, rating, time)."""
    u, i, r, t = (np.asarray(c) for c in zip(*rows))
    mask = np.zeros(len(rows), bool) if is_eval is None else np.asarray(is_eval)
    return Ratings(user=u, item=i, rating=r.astype(float), time=t, is_eval=mask, serialized=[])


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
