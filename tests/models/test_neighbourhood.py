"""KNNBaseline (models/neighbourhood.py): hand-derived values for the fit, and the Keras layer
equals the numpy definition on random data."""

import numpy as np
import pytest
import tensorflow as tf

from recsys.models.neighbourhood import (MAX_DENSE_ENTRIES, Neighbourhood, fit, fit_baseline, knn,
                                  similarities)


def test_knn_is_the_similarity_weighted_mean_residual():
    # (0.9 * 1 - 0.5 * 2 + 0.1 * -1) / (0.9 + 0.5 + 0.1)
    assert knn(np.array([0.9, -0.5, 0.1]), np.array([1.0, 2.0, -1.0])) == pytest.approx(-0.2 / 1.5)
    # Only the 2 most similar by |s| count: (0.9 * 1 - 0.5 * 2) / 1.4
    assert knn(np.array([0.9, -0.5, 0.1]), np.array([1.0, 2.0, -1.0]), neighbours=2) == pytest.approx(-0.1 / 1.4)
    assert knn(np.array([]), np.array([])) == 0.0
    assert knn(np.array([0.0, 0.0]), np.array([1.0, 2.0])) == 0.0


def test_similarity_is_shrunk_pearson_over_shared_columns():
    rows, cols = np.array([0, 0, 1, 1, 2, 2, 3]), np.array([0, 1, 0, 1, 0, 1, 2])
    residual = np.array([1.0, -1.0, 1.0, -1.0, -2.0, 2.0, 5.0])
    s = similarities(rows, cols, residual, 4, 3, shrink=100.0)
    shrink = 2 / (2 + 100)  # two co-rated columns
    assert s[0, 1] == pytest.approx(shrink)        # identical residuals
    assert s[0, 2] == pytest.approx(-shrink)       # opposite (scale does not matter)
    assert s[0, 3] == 0.0 and s[3, 0] == 0.0       # nothing in common
    assert np.diag(s).tolist() == [0.0] * 4        # a row is not its own neighbour
    np.testing.assert_allclose(s, s.T)


def test_baseline_recovers_additive_ratings_without_regularisation():
    # r = 3 + b_u + b_i with b_u = (+0.5, -0.5), b_i = (+1, -1): fully observed, so exact.
    users, items = np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1])
    ratings = 3 + np.array([0.5, 0.5, -0.5, -0.5]) + np.array([1.0, -1.0, 1.0, -1.0])
    mu, bu, bi = fit_baseline(users, items, ratings, 2, 2, reg_user=0.0, reg_item=0.0, iterations=30)
    np.testing.assert_allclose(mu + bu[users] + bi[items], ratings, atol=1e-6)


def test_layer_equals_the_numpy_definition():
    rng = np.random.default_rng(3)
    n_users, n_items = 9, 7
    pairs = [(u, i) for u in range(n_users - 1) for i in range(n_items - 1) if rng.random() < 0.6]
    users, items = (np.array(c) for c in zip(*pairs))
    ratings = rng.integers(1, 6, len(pairs)).astype(float)
    tables = fit(users, items, ratings, n_users, n_items)  # the last user and item: unseen (OOV)
    layer = Neighbourhood(tables, "user_id", "item_id", neighbours=3)
    qu, qi = np.repeat(np.arange(n_users), n_items), np.tile(np.arange(n_items), n_users)
    got = layer({"user_id": tf.constant(qu), "item_id": tf.constant(qi)}).numpy()
    # The reference ranks the layer's own float32 values: near-ties may order differently in float64.
    t = {name: w.numpy().astype(np.float64) for name, w in layer.tables.items()}
    res, rated = t["residual"], t["rated"].astype(bool)
    for row, (u, i) in enumerate(zip(qu, qi)):
        base = t["mu"] + t["user_bias"][u] + t["item_bias"][i]
        mine, theirs = np.flatnonzero(rated[u]), np.flatnonzero(rated[:, i])
        expected = [base, knn(t["item_sim"][i, mine], res[u, mine], 3),
                    knn(t["user_sim"][u, theirs], res[theirs, i], 3)]
        np.testing.assert_allclose(got[row], expected, rtol=1e-5, atol=1e-5)
    # An unseen user and item: the global mean, no correction.
    assert got[-1].tolist() == pytest.approx([float(tables["mu"]), 0.0, 0.0], abs=1e-6)


def test_fit_refuses_a_catalog_too_large_for_dense_tables():
    with pytest.raises(ValueError, match=r"100000 users x 1000 items need .* dense table entries"):
        fit([0], [0], [4.0], 100_000, 1_000)
    assert 100_000 ** 2 > MAX_DENSE_ENTRIES
