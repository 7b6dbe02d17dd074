"""``OOVDropout`` (models/inputs.py): while training, a share of the item ids goes to the OOV
buckets, so an unseen item is scored by a trained prior rather than an untrained random row."""

import numpy as np
import pytest
import tensorflow as tf

from recsys.config import TrainConfig
from recsys.features import Feature, FeatureConfig
from recsys.models.factory import build_ranker
from recsys.models.inputs import OOVDropout, item_oov_ids
from tests.tiny import CONFIG


def test_dropped_ids_go_to_a_bucket_pads_and_oov_ids_stay():
    # known ids 0..4, buckets 5, 6: a dropped id i becomes 5 + i mod 2.
    layer = OOVDropout({"item_id": (5, 2), "history": (5, 2)}, rate=0.999999)
    ids = tf.constant([0, 1, 2, 3, 4, 5, 6], tf.int64)
    history = tf.constant([[3, 4, -1], [-1, -1, -1]], tf.int64)
    out = layer({"item_id": ids, "history": history, "user_id": ids}, training=True)
    np.testing.assert_array_equal(out["item_id"], [5, 6, 5, 6, 5, 5, 6])
    np.testing.assert_array_equal(out["history"], [[6, 5, -1], [-1, -1, -1]])
    np.testing.assert_array_equal(out["user_id"], ids)  # not an item vocabulary: untouched
    # Serving / evaluation: the identity.
    same = layer({"item_id": ids, "history": history}, training=False)
    np.testing.assert_array_equal(same["item_id"], ids)


def test_rate_is_the_share_of_dropped_ids():
    tf.random.set_seed(0)
    ids = tf.zeros([200_000], tf.int64)
    out = OOVDropout({"item_id": (10, 3)}, rate=0.02)({"item_id": ids}, training=True)["item_id"]
    share = float(tf.reduce_mean(tf.cast(out == 10, tf.float32)))
    assert share == pytest.approx(0.02, abs=0.002)  # 4 standard errors


def test_bad_rate_and_sizes_are_refused():
    with pytest.raises(ValueError, match="rate = 1.0"):
        OOVDropout({"item_id": (5, 2)}, rate=1.0)
    with pytest.raises(ValueError, match="item_id"):
        OOVDropout({"item_id": (5, 0)}, rate=0.1)


def test_item_vocabulary_ids_include_the_history_that_shares_it():
    sizes = {"user_id": 3 + 2, "item_id": 3 + 3, "history": 3 + 3}
    assert item_oov_ids(CONFIG, sizes) == {"item_id": (3, 3), "history": (3, 3)}


TINY = FeatureConfig(dataset="tiny_oov", features=(
    Feature("user_id", "categorical", side="user", num_oov_buckets=1),
    Feature("item_id", "categorical", side="item", num_oov_buckets=2)))


def _fit(oov_dropout: float):
    """20 items, item i clicked with probability i / 20 (mean 0.475), by 8 users; returns the
    ranker and its click probability for every item id, OOV buckets (20, 21) included."""
    tf.keras.utils.set_random_seed(3)
    rng = np.random.default_rng(3)
    n = 8000
    items = rng.integers(0, 20, n)
    features = {"user_id": rng.integers(0, 8, n), "item_id": items}
    labels = (rng.random(n) < items / 20).astype(np.float32)
    model = build_ranker(TrainConfig(embedding_dim=4, deep_layers=(16,), oov_dropout=oov_dropout),
                         TINY, {"user_id": 9, "item_id": 22})
    probe = {"user_id": tf.zeros([22], tf.int64), "item_id": tf.range(22, dtype=tf.int64)}
    model(probe)  # builds the tables
    initial = model.embedding.table("item_id").embeddings.numpy()[20:].copy()
    model.compile(optimizer=tf.keras.optimizers.Adam(0.01))
    model.fit(tf.data.Dataset.from_tensor_slices((features, labels)).batch(256), epochs=4, verbose=0)
    trained = model.embedding.table("item_id").embeddings.numpy()[20:]
    return initial, trained, tf.sigmoid(model(probe)).numpy().ravel()


def test_oov_rows_learn_the_average_item_prior():
    # No dropout (the bug): the OOV rows are never looked up in training and keep their
    # random initial values.
    initial, trained, _ = _fit(0.0)
    np.testing.assert_array_equal(initial, trained)
    # With dropout the buckets are trained, and an unseen item scores like an average known item
    # (click rates 0 .. 0.95 over items, mean 0.475), not at either end of the list.
    initial, trained, p = _fit(0.2)
    assert np.abs(trained - initial).max() > 0.05
    known, oov = p[:20], p[20:]
    assert np.all(np.abs(oov - known.mean()) < 0.1), (oov, known.mean())
    assert np.all(oov < np.quantile(known, 0.8)) and np.all(oov > np.quantile(known, 0.2))
