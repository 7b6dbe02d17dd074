"""DIN: Dice and target-attention golden values, masking, and the Ranker plug-in (models/din.py)."""

import numpy as np
import pytest
import tensorflow as tf

from recsys.models.din import Dice, DINSequencePooling, TargetAttention
from recsys.models.inputs import FeatureEmbedding
from recsys.models.ranking import Ranker, make_task
from recsys.models.wide_deep import DeepMLP
from tests.tiny import CONFIG

keras = tf.keras
EPS = 1e-8


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


# --- Dice ---------------------------------------------------------------------------------------

S = np.array([[-2.0, 0.5], [1.0, 3.0]], np.float32)


def test_dice_at_init_in_inference_is_p_times_s():
    # Fresh moving stats (mean 0, var 1): BN(s) = s / sqrt(1 + 1e-8); alpha = 0 -> f(s) = p(s) * s.
    #   s = -2: sigmoid(-2) * -2 = 0.1192029 * -2 = -0.2384058
    #   s = 3:  sigmoid(3) * 3   = 0.9525741 * 3  =  2.8577224
    out = Dice()(tf.constant(S), training=False).numpy()
    np.testing.assert_allclose(out, sigmoid(S / np.sqrt(1 + EPS)) * S, rtol=1e-6)
    np.testing.assert_allclose(out[0, 0], -0.2384058, rtol=1e-6)
    np.testing.assert_allclose(out[1, 1], 2.8577224, rtol=1e-6)


def test_dice_alpha_scales_the_negative_side():
    dice = Dice()
    dice(tf.constant(S))  # build
    dice.alpha.assign([0.25, 0.5])
    out = dice(tf.constant(S), training=False).numpy()
    # s = -2, alpha = 0.25: p s + (1 - p) alpha s = -0.2384058 + 0.8807971 * 0.25 * -2 = -0.6788043
    np.testing.assert_allclose(out[0, 0], -0.6788043, rtol=1e-6)
    p = sigmoid(S / np.sqrt(1 + EPS))
    np.testing.assert_allclose(out, p * S + (1 - p) * np.array([0.25, 0.5]) * S, rtol=1e-6)


def test_dice_training_uses_batch_statistics_and_updates_moving_ones():
    # Column 0: [1, 3] -> mean 2, var 1 -> BN = [-1, 1]; column 1: [10, 20] -> mean 15, var 25
    # -> BN = [-1, 1]. So f = [sigmoid(-1) * s_0, sigmoid(1) * s_1] per column:
    #   [0.2689414 * 1, 0.2689414 * 10], [0.7310586 * 3, 0.7310586 * 20].
    x = np.array([[1.0, 10.0], [3.0, 20.0]], np.float32)
    dice = Dice()
    out = dice(tf.constant(x), training=True).numpy()
    np.testing.assert_allclose(out, [[0.2689414, 2.689414], [2.1931758, 14.621172]], rtol=1e-5)
    # momentum 0.99: moving = 0.99 * old + 0.01 * batch.
    np.testing.assert_allclose(dice.bn.moving_mean.numpy(), [0.02, 0.15], rtol=1e-5)
    np.testing.assert_allclose(dice.bn.moving_variance.numpy(), [1.0, 1.24], rtol=1e-5)


def test_dice_mask_keeps_padding_out_of_the_batch_statistics():
    # The same two valid values as above plus a huge padded one: statistics unchanged.
    x = tf.constant([[[1.0], [3.0], [1e6]]])
    out = Dice()(x, training=True, mask=tf.constant([[True, True, False]])).numpy()
    np.testing.assert_allclose(out[0, :2, 0], [0.2689414, 2.1931758], rtol=1e-5)


# --- TargetAttention: golden values -------------------------------------------------------------

T = tf.constant([[1.0, 2.0]])
H = tf.constant([[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]])
ALL = tf.constant([[True, True, True]])


def linear_score(kernel, bias=0.0, **kwargs):
    """An attention unit whose score is the linear function ``kernel . [h, t, h - t, h * t] + bias``."""
    layer = TargetAttention(hidden_units=(), **kwargs)
    layer(T, H, ALL)  # build
    layer.score.set_weights([np.array(kernel, np.float32).reshape(8, 1),
                             np.array([bias], np.float32)])
    return layer


@pytest.mark.parametrize("kernel, bias, expected", [
    # t = [1, 2]; h = [1, 0], [0, 1], [1, 1].  out = sum_j score_j h_j.
    ([1, 1, 0, 0, 0, 0, 0, 0], 0.0, [3.0, 3.0]),    # sum(h) = 1, 1, 2 -> [1+0+2, 0+1+2]
    ([0, 0, 1, 1, 0, 0, 0, 0], 0.0, [6.0, 6.0]),    # sum(t) = 3 each -> 3 * [2, 2]
    ([0, 0, 0, 0, 1, 1, 0, 0], 0.0, [-3.0, -3.0]),  # sum(h - t) = -2, -2, -1 -> [-2-1, -2-1]
    ([0, 0, 0, 0, 0, 0, 1, 1], 0.0, [4.0, 5.0]),    # h . t = 1, 2, 3 -> [1+3, 2+3]
    ([0] * 8, 1.0, [2.0, 2.0]),                     # bias only: 1 each -> sum(h)
])
def test_attention_is_the_raw_score_weighted_sum(kernel, bias, expected):
    out = linear_score(kernel, bias)(T, H, ALL).numpy()
    np.testing.assert_allclose(out, [expected], rtol=1e-6)


def test_attention_softmax_option_by_hand():
    # scores h . t = [1, 2, 3]; softmax = [0.0900306, 0.2447285, 0.6652410]
    # out = 0.0900306 * [1, 0] + 0.2447285 * [0, 1] + 0.6652410 * [1, 1] = [0.7552716, 0.9099695]
    out = linear_score([0, 0, 0, 0, 0, 0, 1, 1], normalize="softmax")(T, H, ALL).numpy()
    np.testing.assert_allclose(out, [[0.7552716, 0.9099695]], rtol=1e-6)


@pytest.mark.parametrize("activation", ["relu", "dice"])
def test_attention_mlp_matches_a_numpy_reference(activation):
    rng = np.random.default_rng(0)
    w1, b1 = rng.normal(size=(8, 2)).astype(np.float32), np.array([0.1, -0.2], np.float32)
    w2, b2 = np.array([[1.5], [-0.5]], np.float32), np.array([0.3], np.float32)
    layer = TargetAttention(hidden_units=(2,), activation=activation)
    mask = tf.constant([[True, False, True]])
    layer(T, H, mask)  # build
    layer.hidden[0].set_weights([w1, b1])
    layer.score.set_weights([w2, b2])
    out = layer(T, H, mask, training=False).numpy()

    h, t = H.numpy()[0], np.repeat(T.numpy(), 3, axis=0)
    a = np.concatenate([h, t, h - t, h * t], axis=1) @ w1 + b1
    # Dice at init in inference: p(a) * a with p = sigmoid(a / sqrt(1 + eps)).
    act = np.maximum(a, 0) if activation == "relu" else sigmoid(a / np.sqrt(1 + EPS)) * a
    score = (act @ w2 + b2)[:, 0] * np.array([1.0, 0.0, 1.0])  # position 1 is padding
    np.testing.assert_allclose(out, [score @ h], rtol=1e-5)
    assert np.abs(out).sum() > 0.1


# --- TargetAttention: masking -------------------------------------------------------------------

def _batch(seed=0):
    rng = np.random.default_rng(seed)
    target = rng.normal(size=(2, 4)).astype(np.float32)
    history = rng.normal(size=(2, 3, 4)).astype(np.float32)
    mask = np.array([[True, False, True], [False, False, False]])  # row 1: no history at all
    return target, history, mask


@pytest.mark.parametrize("normalize", [None, "softmax"])
@pytest.mark.parametrize("training", [False, True])
def test_padding_never_changes_the_output(normalize, training):
    target, history, mask = _batch()
    layer = TargetAttention(normalize=normalize)  # default: Dice, hidden (36,)
    base = layer(target, history, mask, training=training).numpy()

    # Overwrite the pads with huge / inf / NaN values and append two more padded positions.
    noisy = history.copy()
    noisy[~mask] = 1e30
    noisy[1, 2] = np.inf
    extra = np.full((2, 2, 4), np.nan, np.float32)
    padded = layer(target, np.concatenate([noisy, extra], axis=1),
                   np.concatenate([mask, np.zeros((2, 2), bool)], axis=1), training=training).numpy()

    assert np.isfinite(base).all() and np.isfinite(padded).all()
    np.testing.assert_allclose(padded, base, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(base[1], np.zeros(4))  # all-padding row -> zeros
    assert np.abs(base[0]).sum() > 1e-3


@pytest.mark.parametrize("normalize", [None, "softmax"])
def test_gradients_are_finite_with_an_all_padding_row(normalize):
    target, history, mask = _batch()
    layer = TargetAttention(normalize=normalize)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(target, history, mask, training=True))
    grads = tape.gradient(loss, layer.trainable_variables)
    assert len(grads) == 5  # hidden kernel + bias, Dice alpha, score kernel + bias
    assert all(g is not None and np.isfinite(g.numpy()).all() for g in grads)


def test_softmax_normalises_over_the_valid_positions_only():
    target, history, mask = _batch()
    soft = TargetAttention(normalize="softmax")
    raw = TargetAttention()
    soft(target, history, mask), raw(target, history, mask)  # build
    raw.set_weights(soft.get_weights())

    w = soft.attention_weights(target, history, mask).numpy()
    logits = raw.attention_weights(target, history, mask).numpy()
    np.testing.assert_array_equal(w[~mask], 0.0)
    np.testing.assert_array_equal(logits[~mask], 0.0)
    np.testing.assert_allclose(w.sum(axis=1), [1.0, 0.0], rtol=1e-6)  # row 1 has no valid item
    valid = logits[0, mask[0]]
    np.testing.assert_allclose(w[0, mask[0]], np.exp(valid) / np.exp(valid).sum(), rtol=1e-5)


def test_attention_weights_pass_training_to_dice():
    target, history, mask = _batch()
    layer = TargetAttention()
    moving_mean = lambda: np.abs(layer.dice[0].bn.moving_mean.numpy()).sum()  # noqa: E731
    # Called directly (outside Keras' __call__, so no call context carries `training`).
    layer.attention_weights(target, history, mask, training=False)
    assert moving_mean() == 0.0
    layer.attention_weights(target, history, mask, training=True)
    assert moving_mean() > 0.0


def test_attention_rejects_bad_arguments():
    with pytest.raises(ValueError, match="normalize"):
        TargetAttention(normalize="sparsemax")
    with pytest.raises(ValueError, match="target dim"):
        TargetAttention()(tf.zeros([1, 3]), tf.zeros([1, 2, 4]), tf.ones([1, 2], tf.bool))


def test_attention_under_mixed_precision_matches_float32():
    target, history, mask = _batch()
    ref = TargetAttention()
    expected = ref(target, history, mask, training=True).numpy()
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        layer = TargetAttention()
        layer(target, history, mask)  # build
        layer.set_weights(ref.get_weights()[:5] + [np.zeros(36), np.ones(36)])  # fresh BN stats
        out = layer(target, history, mask, training=True)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert out.dtype == tf.float16
    np.testing.assert_allclose(out.numpy().astype(np.float32), expected, rtol=2e-2, atol=2e-2)


# --- DINSequencePooling and the Ranker ----------------------------------------------------------

def _sequences(seed=1):
    rng = np.random.default_rng(seed)
    vectors = {"item_id": tf.constant(rng.normal(size=(3, 4)), tf.float32),
               "user_id": tf.constant(rng.normal(size=(3, 4)), tf.float32)}
    sequences = {
        "history": {"values": tf.constant(rng.normal(size=(3, 5, 4)), tf.float32),
                    "mask": tf.constant(rng.random((3, 5)) > 0.3)},
        "clicks": {"values": tf.constant(rng.normal(size=(3, 2, 4)), tf.float32),
                   "mask": tf.constant([[True, True], [True, False], [False, False]])},
    }
    return sequences, vectors


def test_din_pooling_returns_one_vector_per_sequence_from_its_own_unit():
    sequences, vectors = _sequences()
    pool = DINSequencePooling("item_id", hidden_units=(6,))
    out = pool(sequences, vectors)
    assert set(out) == {"history", "clicks"} and set(pool.attention) == {"history", "clicks"}
    assert all(v.shape == (3, 4) for v in out.values())
    for name, s in sequences.items():  # each is its own unit attending with the candidate item
        unit = pool.attention[name]
        assert unit.hidden_units == (6,)
        np.testing.assert_allclose(out[name].numpy(),
                                   unit(vectors["item_id"], s["values"], s["mask"]).numpy(), rtol=1e-6)
    np.testing.assert_array_equal(out["clicks"].numpy()[2], np.zeros(4))
    ids = {id(v) for v in pool.attention["history"].trainable_variables}
    assert not ids & {id(v) for v in pool.attention["clicks"].trainable_variables}
    assert len(pool.trainable_variables) == 10  # 5 per unit, tracked by the pooling layer


def test_din_pooling_checks_its_inputs():
    sequences, vectors = _sequences()
    with pytest.raises(KeyError, match="target_key"):
        DINSequencePooling("movie_id")(sequences, vectors)
    # Units named up front are the only ones: the first call's sequences do not add any (they
    # would if the names were ignored), and the named one pools its sequence.
    pool = DINSequencePooling("item_id", sequence_names=["history"])
    with pytest.raises(ValueError, match=r"sequences \['clicks'\] have no attention unit"):
        pool(sequences, vectors)
    history = sequences["history"]
    out = pool({"history": history}, vectors)
    np.testing.assert_allclose(out["history"].numpy(), pool.attention["history"](
        vectors["item_id"], history["values"], history["mask"]).numpy(), rtol=1e-6)


def test_din_pooling_queries_each_sequence_with_its_own_candidate_feature():
    # A category history is queried by the candidate's category, the item history by the item:
    # with a linear score h . t, the category unit's output is sum_j (h_j . t_cat) h_j.
    sequences, vectors = _sequences()
    vectors["item_category"] = tf.constant([[1.0, 0.0, 0.0, 0.0], [0.0, 2.0, 0.0, 0.0],
                                            [0.0, 0.0, 0.0, 0.0]])
    pool = DINSequencePooling({"history": "item_id", "clicks": "item_category"}, hidden_units=())
    assert pool.sequence_names == ("clicks", "history")  # the mapping's sequences, up front
    out = pool(sequences, vectors)
    for name, key in (("history", "item_id"), ("clicks", "item_category")):
        s = sequences[name]
        np.testing.assert_allclose(out[name].numpy(), pool.attention[name](
            vectors[key], s["values"], s["mask"]).numpy(), rtol=1e-6)
    unit = pool.attention["clicks"]
    unit.score.set_weights([np.array([0] * 12 + [1] * 4, np.float32).reshape(16, 1), np.zeros(1, np.float32)])
    h, m = sequences["clicks"]["values"].numpy(), sequences["clicks"]["mask"].numpy()
    t = vectors["item_category"].numpy()
    w = np.einsum("bld,bd->bl", h, t) * m  # h_j . t at valid positions
    np.testing.assert_allclose(pool(sequences, vectors)["clicks"].numpy(),
                               np.einsum("bl,bld->bd", w, h), rtol=1e-5, atol=1e-6)
    # Row 0: t_cat = e_0, both positions valid -> sum_j h_j[0] h_j.
    np.testing.assert_allclose(pool(sequences, vectors)["clicks"].numpy()[0],
                               h[0, 0, 0] * h[0, 0] + h[0, 1, 0] * h[0, 1], rtol=1e-5)
    with pytest.raises(KeyError, match="'item_category' .*of sequence 'clicks'"):
        pool(sequences, {"item_id": vectors["item_id"]})
    with pytest.raises(KeyError, match="no candidate feature for sequence 'clicks'"):
        DINSequencePooling({"history": "item_id"}, sequence_names=["history", "clicks"])(sequences, vectors)


def _ranker_batch():
    i64 = lambda x: tf.constant(x, tf.int64)  # noqa: E731
    return {"user_id": i64([0, 1, 2]), "item_id": i64([0, 1, 5]),
            "item_price": tf.constant([0.1, -1.0, 2.0]), "item_price_bucket": i64([0, 1, 2]),
            "item_genres": i64([[0, 1], [2, -1], [-1, -1]]),
            "history": i64([[1, 2, -1], [-1, -1, -1], [0, 0, 3]])}


def test_ranker_with_din_pooling_scores_trains_and_propagates_training():
    sizes = {"user_id": 5, "item_id": 6, "item_price_bucket": 3, "item_genres": 4}
    model = Ranker(embedding=FeatureEmbedding(CONFIG, sizes, 4), interaction=DeepMLP((8,)),
                   task=make_task("binary"), label_key="label",
                   sequence_pooling=DINSequencePooling("item_id"))
    batch = _ranker_batch()
    logits = model(batch)
    assert logits.shape == (3, 1) and np.isfinite(logits.numpy()).all()
    bn = model.sequence_pooling.attention["history"].dice[0].bn
    np.testing.assert_array_equal(bn.moving_mean.numpy(), 0.0)  # inference: stats untouched

    with tf.GradientTape() as tape:
        loss = model.compute_loss((batch, tf.constant([1, 0, 1])), training=True)
    # Keras passed the Ranker's training=True down to Dice: its moving stats moved.
    assert np.abs(bn.moving_mean.numpy()).sum() > 0
    grads = tape.gradient(loss, model.trainable_variables)
    names = [v.name for v, g in zip(model.trainable_variables, grads) if g is None]
    assert not names, f"no gradient for {names}"
    assert any("attention_history" in v.name for v in model.trainable_variables)
    assert all(np.isfinite(tf.convert_to_tensor(g).numpy()).all() for g in grads)
