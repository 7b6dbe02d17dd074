"""SASRec's encoder: causality (position t never sees newer items), padding invariance, the
newest position as the output, an empty history, a heads/width mismatch named."""

import numpy as np
import pytest
import tensorflow as tf

from recsys.models.sasrec import SASRec

L, D = 6, 8


@pytest.fixture(scope="module")
def sasrec():
    tf.keras.utils.set_random_seed(0)
    layer = SASRec(L, D, blocks=2, heads=2, dropout=0.3)
    layer(tf.zeros([1, L, D]), tf.ones([1, L], tf.bool))
    return layer


def _items(seed, shape=(2, L, D)):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def test_position_t_never_depends_on_newer_items(sasrec):
    # Most recent first: position i holds the item i steps back; newer items sit at j < i.
    values, mask = _items(1), tf.ones([2, L], tf.bool)
    before = sasrec.sequence(tf.constant(values), mask).numpy()
    t = 3
    perturbed = values.copy()
    perturbed[:, :t] = _items(2)[:, :t]  # every item newer than position t replaced
    after = sasrec.sequence(tf.constant(perturbed), mask).numpy()
    np.testing.assert_allclose(after[:, t:], before[:, t:], rtol=1e-5, atol=1e-5)
    assert np.abs(after[:, :t] - before[:, :t]).max() > 1e-3  # the newer positions do move
    older = values.copy()
    older[:, t + 1] = _items(3)[:, t + 1]  # an item older than t: t sees it
    assert np.abs(sasrec.sequence(tf.constant(older), mask).numpy()[:, t] - before[:, t]).max() > 1e-3


def test_output_is_the_newest_position_and_depends_on_the_whole_history(sasrec):
    values, mask = tf.constant(_items(4)), tf.ones([2, L], tf.bool)
    np.testing.assert_allclose(sasrec(values, mask).numpy(), sasrec.sequence(values, mask).numpy()[:, 0])
    oldest = _items(4)
    oldest[:, -1] = _items(5)[:, -1]
    assert np.abs(sasrec(tf.constant(oldest), mask).numpy() - sasrec(values, mask).numpy()).max() > 1e-3


def test_padding_never_changes_the_output(sasrec):
    items = _items(6, (2, 3, D))
    mask3 = tf.constant([[True, True, True], [True, True, False]])
    short = sasrec(tf.constant(items), mask3).numpy()
    padded = np.concatenate([items, _items(7, (2, L - 3, D))], axis=1)  # pads hold garbage
    padded[1, 2] = 5.0
    mask = tf.constant([[True] * 3 + [False] * (L - 3), [True] * 2 + [False] * (L - 2)])
    np.testing.assert_allclose(sasrec(tf.constant(padded), mask).numpy(), short, rtol=1e-5, atol=1e-5)


def test_empty_history_gives_zeros_and_dropout_only_while_training(sasrec):
    empty = sasrec(tf.constant(_items(8)), tf.zeros([2, L], tf.bool)).numpy()
    np.testing.assert_array_equal(empty, 0.0)
    values, mask = tf.constant(_items(9)), tf.ones([2, L], tf.bool)
    np.testing.assert_allclose(sasrec(values, mask).numpy(), sasrec(values, mask).numpy())
    assert np.abs(sasrec(values, mask, training=True).numpy() - sasrec(values, mask).numpy()).max() > 1e-3


def test_heads_must_divide_the_width():
    with pytest.raises(ValueError, match="heads = 3 must divide the history's embedding size 8"):
        SASRec(L, 8, heads=3)
