"""GRU4Rec's encoder: a hand-derived golden value (which also pins the history's order), padding
invariance, an empty history."""

import numpy as np
import tensorflow as tf

from recsys.models.gru4rec import GRU4Rec


def _golden_gru() -> GRU4Rec:
    """1 unit, 1 input; kernel [z, r, h] = [0, 0, 1], recurrent kernel and biases 0. Then
    z = r = sigmoid(0) = 1/2 and the candidate is tanh(x), so each step is
    h' = z h + (1 - z) tanh(x) = h / 2 + tanh(x) / 2."""
    gru = GRU4Rec(1)
    gru(tf.zeros([1, 2, 1]), tf.ones([1, 2], tf.bool))  # builds the weights
    kernel, recurrent, bias = gru.gru.get_weights()
    gru.gru.set_weights([np.array([[0.0, 0.0, 1.0]]), np.zeros_like(recurrent), np.zeros_like(bias)])
    return gru


def test_golden_value_reads_oldest_to_newest():
    gru = _golden_gru()
    # Most recent first, as the data writes it: newest x0 = 1, oldest x1 = 2, then a pad.
    # Oldest first: h1 = tanh(2) / 2; h2 = h1 / 2 + tanh(1) / 2 = tanh(2) / 4 + tanh(1) / 2.
    # (Read newest first it would be tanh(1) / 4 + tanh(2) / 2 = 0.672, not 0.6188.)
    values = tf.constant([[[1.0], [2.0], [99.0]]])
    out = gru(values, tf.constant([[True, True, False]]))
    np.testing.assert_allclose(out.numpy(), [[np.tanh(2) / 4 + np.tanh(1) / 2]], rtol=1e-6)


def test_padding_never_changes_the_output_and_an_empty_history_is_zero():
    gru = GRU4Rec(4)
    rng = np.random.default_rng(0)
    items = rng.normal(size=(2, 3, 4)).astype(np.float32)
    short = gru(tf.constant(items), tf.constant([[True, True, True], [True, False, False]]))
    garbage = rng.normal(size=(2, 5, 4)).astype(np.float32)  # what pads look up does not matter
    padded = np.concatenate([items, garbage], axis=1)
    padded[1, 1:3] = garbage[1, :2]
    long = gru(tf.constant(padded), tf.constant([[True] * 3 + [False] * 5, [True] + [False] * 7]))
    np.testing.assert_allclose(long.numpy(), short.numpy(), rtol=1e-5, atol=1e-6)
    empty = gru(tf.constant(garbage), tf.zeros([2, 5], tf.bool))
    np.testing.assert_allclose(empty.numpy(), 0.0)
