"""Wide&Deep blocks (models/wide_deep.py): the linear wide part by hand, its gradients, the deep MLP."""

import numpy as np
import pytest
import tensorflow as tf

from recsys.models.inputs import FeatureEmbedding
from recsys.models.ranking import Ranker, make_task
from recsys.models.wide_deep import DeepMLP, WideLinear
from tests.tiny import CONFIG

keras = tf.keras

SIZES = {"user_id": 3, "item_price_bucket": 2, "item_genres": 4}
FEATURES = {
    "user_id": tf.constant([0, 2], tf.int64),
    "item_price_bucket": tf.constant([1, 0], tf.int64),
    "item_genres": tf.constant([[1, 3], [-1, -1]], tf.int64),  # row 1: no genre at all
    "item_price": tf.constant([0.5, -0.5]),  # not a wide feature: ignored
}


def hand_weighted() -> WideLinear:
    wide = WideLinear(SIZES)
    wide.tables["user_id"].set_weights([np.array([[1.0], [2.0], [3.0]])])
    wide.tables["item_price_bucket"].set_weights([np.array([[10.0], [20.0]])])
    wide.tables["item_genres"].set_weights([np.array([[100.0], [200.0], [300.0], [400.0]])])
    wide.bias.assign([0.5])
    return wide


def test_wide_logit_by_hand():
    # row 0: w_user[0] + w_bucket[1] + w_genre[1] + w_genre[3] + b = 1 + 20 + 200 + 400 + 0.5
    # row 1: w_user[2] + w_bucket[0] + (both genres are -1 pads: nothing) + b = 3 + 10 + 0.5
    logit = hand_weighted()(FEATURES)
    assert logit.shape == (2, 1) and logit.dtype == tf.float32
    np.testing.assert_allclose(logit.numpy(), [[621.5], [13.5]])


def test_wide_accepts_single_valued_ids_as_b_by_1():
    feats = {**FEATURES, "user_id": tf.constant([[0], [2]], tf.int64)}
    np.testing.assert_allclose(hand_weighted()(feats).numpy(), [[621.5], [13.5]])


def test_wide_starts_at_zero_and_can_drop_the_bias():
    np.testing.assert_array_equal(WideLinear(SIZES)(FEATURES).numpy(), [[0.0], [0.0]])
    wide = WideLinear(SIZES, use_bias=False)
    assert wide.bias is None and len(wide.wide_variables) == 3


def test_gradient_reaches_only_the_looked_up_rows():
    wide = hand_weighted()
    with tf.GradientTape() as tape:
        # d/dw of sum(logit * [1, 10]): each looked-up row gets its row's factor.
        loss = tf.reduce_sum(wide(FEATURES) * tf.constant([[1.0], [10.0]]))
    names = list(SIZES) + ["bias"]
    variables = [wide.tables[n].embeddings for n in SIZES] + [wide.bias]
    grads = {n: tf.convert_to_tensor(g).numpy().ravel()  # IndexedSlices -> dense
             for n, g in zip(names, tape.gradient(loss, variables))}
    np.testing.assert_array_equal(grads["user_id"], [1.0, 0.0, 10.0])
    np.testing.assert_array_equal(grads["item_price_bucket"], [10.0, 1.0])
    # Genre row 0 is what the -1 pads look up before masking: it must get exactly nothing.
    np.testing.assert_array_equal(grads["item_genres"], [0.0, 1.0, 0.0, 1.0])
    np.testing.assert_array_equal(grads["bias"], [11.0])


def test_wide_variables_exist_before_the_first_call_and_are_named():
    cross = CONFIG.crosses[0]  # a hashed Transform cross: just another id feature here
    wide = WideLinear({"user_id": 3, cross.name: cross.hash_buckets}, name="wide")
    names = sorted(v.name for v in wide.wide_variables)
    assert names == ["wide/bias:0", f"wide/wide_{cross.name}/embeddings:0",
                     "wide/wide_user_id/embeddings:0"]
    assert [tuple(v.shape) for v in wide.tables[cross.name].variables] == [(cross.hash_buckets, 1)]
    ids = tf.constant([cross.hash_buckets - 1, 0], tf.int64)
    wide.tables[cross.name].set_weights([np.arange(cross.hash_buckets, dtype=np.float32)[:, None]])
    out = wide({"user_id": tf.constant([0, 0], tf.int64), cross.name: ids})
    np.testing.assert_allclose(out.numpy(), [[cross.hash_buckets - 1.0], [0.0]])


def test_wide_rejects_bad_config_and_missing_features():
    with pytest.raises(ValueError, match="at least one"):
        WideLinear({})
    with pytest.raises(ValueError, match=">= 1"):
        WideLinear({"user_id": 0})
    with pytest.raises(KeyError, match="user_id_x_item_id"):
        WideLinear({"user_id_x_item_id": 4})(FEATURES)


def test_wide_stays_float32_under_mixed_precision():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        wide = WideLinear({"user_id": 3})
    finally:
        keras.mixed_precision.set_global_policy("float32")
    wide.tables["user_id"].set_weights([np.array([[1e-4], [2.0], [3.0]])])
    out = wide({"user_id": tf.constant([0], tf.int64)})
    assert out.dtype == tf.float32
    np.testing.assert_allclose(out.numpy(), [[1e-4]], rtol=1e-6)  # float16 would round it


def test_deep_mlp_shape_and_dropout():
    x = tf.random.stateless_normal([6, 10], seed=[3, 4])
    deep = DeepMLP((16, 8), dropout=0.5)
    out = deep(x)
    assert out.shape == (6, 8)
    np.testing.assert_allclose(deep(x).numpy(), out.numpy())  # inference: deterministic
    assert np.min(out.numpy()) >= 0.0  # ReLU output
    assert not np.allclose(deep(x, training=True).numpy(), out.numpy())  # dropout in training
    assert [tuple(v.shape) for v in deep.trainable_variables] == [(10, 16), (16,), (16, 8), (8,)]
    with pytest.raises(ValueError, match="hidden layer"):
        DeepMLP(())
    with pytest.raises(ValueError, match="dropout"):
        DeepMLP((4,), dropout=1.0)


def test_ranker_adds_the_wide_logit_to_the_deep_one():
    sizes = {"user_id": 5, "item_id": 6, "item_price_bucket": 3, "item_genres": 4}
    wide = WideLinear({"user_id": 5, "item_genres": 4})
    model = Ranker(embedding=FeatureEmbedding(CONFIG, sizes, 4), interaction=DeepMLP((8,)),
                   task=make_task("binary"), label_key="label", wide=wide)
    i64 = lambda x: tf.constant(x, tf.int64)  # noqa: E731
    batch = {"user_id": i64([0, 4]), "item_id": i64([1, 2]), "item_price": tf.constant([0.0, 1.0]),
             "item_price_bucket": i64([0, 2]), "item_genres": i64([[0, -1], [1, 3]]),
             "history": i64([[1, -1, -1], [-1, -1, -1]])}
    base = model(batch).numpy()  # wide part is all zeros at init
    wide.tables["user_id"].set_weights([np.arange(5, dtype=np.float32)[:, None]])
    wide.bias.assign([0.25])
    # logit = deep + wide: row 0 adds w_user[0] + b = 0.25, row 1 adds w_user[4] + b = 4.25.
    np.testing.assert_allclose(model(batch).numpy() - base, [[0.25], [4.25]], rtol=1e-5)

    # The wide/deep split an FTRL + Adam trainer needs: disjoint, and together everything.
    wide_ids = {id(v) for v in wide.wide_variables}
    deep_ids = {id(v) for v in model.trainable_variables} - wide_ids
    assert len(wide_ids) == 3 and wide_ids < {id(v) for v in model.trainable_variables}
    assert all("wide" not in v.name for v in model.trainable_variables if id(v) in deep_ids)
