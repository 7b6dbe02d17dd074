"""Golden values for the project's DCN-v2 block (models/dcn.py ``DCNInteraction``), derived by hand.

Cross: x_{l+1} = x0 * (W x_l + b) + x_l. Keras stores the kernel K as [in, out] and computes
x K, i.e. W = K^T; with an all-ones kernel the orientation does not matter, so one test uses an
asymmetric kernel to pin it. The parallel structure returns the cross output first, so its first
D columns are the cross network's output as DCNInteraction wires it (x0 into every layer).
"""

import numpy as np
import pytest
import tensorflow as tf

from recsys.models.dcn import DCNInteraction

X0 = tf.constant([[1.0, 2.0, 3.0]])


def _cross_out(layer: DCNInteraction, x0=X0) -> np.ndarray:
    """The cross network's part of a parallel DCNInteraction's output."""
    return layer(x0).numpy()[:, :x0.shape[-1]]


def _set_cross(layer: DCNInteraction, kernel=None, bias: float = 0.0, x0=X0):
    """Every cross layer's kernels to ones (or ``kernel`` for a full-rank one) and bias to ``bias``."""
    layer(x0)  # build
    for c in layer.cross:
        weights = c.get_weights()
        c.set_weights([(np.full_like(w, bias) if w.ndim == 1 else
                       (kernel if kernel is not None else np.ones_like(w))) for w in weights])


def test_one_full_rank_cross_with_ones_by_hand():
    # W = ones(3, 3), b = 0, x = x0 = [1, 2, 3]:
    #   W x = [1+2+3] * 3 = [6, 6, 6]
    #   x0 * (W x + b) + x = [1*6, 2*6, 3*6] + [1, 2, 3] = [7, 14, 21]
    layer = DCNInteraction(num_cross_layers=1, deep_layers=(2,), structure="parallel")
    _set_cross(layer)
    np.testing.assert_allclose(_cross_out(layer), [[7.0, 14.0, 21.0]])


def test_two_crosses_feed_x0_into_each_layer_by_hand():
    # Second layer on (x0, x1 = [7, 14, 21]): W x1 = 42 -> x0 * 42 + x1 = [49, 98, 147]. Feeding x1
    # instead of x0 as the left factor (a wiring bug) would give [7*42+7, ...] = [301, ...].
    layer = DCNInteraction(num_cross_layers=2, deep_layers=(2,), structure="parallel")
    _set_cross(layer)
    np.testing.assert_allclose(_cross_out(layer), [[49.0, 98.0, 147.0]])


def test_cross_bias_is_added_before_the_product():
    # b = [1, 1, 1]: x0 * (6 + 1) + x = [7, 14, 21] + [1, 2, 3] = [8, 16, 24].
    layer = DCNInteraction(num_cross_layers=1, deep_layers=(2,), structure="parallel")
    _set_cross(layer, bias=1.0)
    np.testing.assert_allclose(_cross_out(layer), [[8.0, 16.0, 24.0]])


def test_cross_kernel_orientation():
    # K[0, 1] = 1 only: x K = [0, x_0, 0] = [0, 1, 0] (W = K^T, so W[1, 0] = 1).
    # x0 * [0, 1, 0] + x = [0, 2, 0] + [1, 2, 3] = [1, 4, 3].
    k = np.zeros((3, 3), np.float32)
    k[0, 1] = 1.0
    layer = DCNInteraction(num_cross_layers=1, deep_layers=(2,), structure="parallel")
    _set_cross(layer, kernel=k)
    np.testing.assert_allclose(_cross_out(layer), [[1.0, 4.0, 3.0]])


@pytest.mark.parametrize("rank, expected", [
    # U = ones(3, 1): x U = [6]; V = ones(1, 3): [6] V = [6, 6, 6] -> same as full rank.
    (1, [7.0, 14.0, 21.0]),
    # U = ones(3, 2): x U = [6, 6]; V = ones(2, 3): [6, 6] V = [12, 12, 12]
    # -> x0 * 12 + x = [12, 24, 36] + [1, 2, 3].
    (2, [13.0, 26.0, 39.0]),
])
def test_low_rank_cross_with_ones_by_hand(rank, expected):
    layer = DCNInteraction(num_cross_layers=1, projection_dim=rank, deep_layers=(2,),
                           structure="parallel")
    _set_cross(layer)
    np.testing.assert_allclose(_cross_out(layer), [expected])
    [cross] = layer.cross
    shapes = sorted(tuple(v.shape) for v in cross.trainable_variables)
    # U [3, r] without bias, V [r, 3] with the bias [3]: 6r + 3 parameters instead of 9 + 3.
    assert shapes == sorted([(3, rank), (rank, 3), (3,)])


def _ones_cross(layer: DCNInteraction, x0):
    layer(x0)  # build
    for c in layer.cross:
        c.set_weights([np.ones_like(w) if w.ndim == 2 else np.zeros_like(w)
                       for w in c.get_weights()])


def test_dcn_interaction_parallel_keeps_the_cross_output_then_the_deep_output():
    layer = DCNInteraction(num_cross_layers=2, deep_layers=(5, 4), structure="parallel")
    _ones_cross(layer, X0)
    out = layer(X0).numpy()
    assert out.shape == (1, 3 + 4)  # D + the deep network's last width
    # Two ones-crosses, both fed the same x0 (see the first test): [49, 98, 147].
    np.testing.assert_allclose(out[:, :3], [[49.0, 98.0, 147.0]])
    # The deep half sees x0 itself (parallel), not the cross output.
    np.testing.assert_allclose(out[:, 3:], layer.deep(X0).numpy(), rtol=1e-6)


def test_dcn_interaction_stacked_feeds_the_cross_output_to_the_deep_network():
    # Seeded: with (5, 4) ReLU units an unlucky random init can output all zeros.
    tf.keras.utils.set_random_seed(0)
    layer = DCNInteraction(num_cross_layers=2, deep_layers=(5, 4), structure="stacked")
    _ones_cross(layer, X0)
    out = layer(X0).numpy()
    assert out.shape == (1, 4)  # the deep network's last width
    expected = layer.deep(tf.constant([[49.0, 98.0, 147.0]])).numpy()
    assert np.abs(expected).sum() > 0  # a dead-ReLU zero vector would prove nothing
    np.testing.assert_allclose(out, expected, rtol=1e-5)


@pytest.mark.parametrize("structure", ["stacked", "parallel"])
def test_dcn_interaction_rows_are_independent(structure):
    """Each example's output depends on that example only (no mixing across the batch): the
    batch's rows equal the rows computed one at a time."""
    tf.keras.utils.set_random_seed(1)
    x = tf.random.stateless_normal([5, 12], seed=[1, 2])
    layer = DCNInteraction(num_cross_layers=3, projection_dim=2, deep_layers=(16, 8),
                           structure=structure)
    batch = layer(x).numpy()
    rows = np.concatenate([layer(x[i:i + 1]).numpy() for i in range(5)])
    np.testing.assert_allclose(batch, rows, rtol=1e-5, atol=1e-6)
    assert np.abs(batch).sum() > 0


def test_dcn_interaction_rejects_bad_settings():
    with pytest.raises(ValueError, match="cross_structure"):
        DCNInteraction(structure="diagonal")
    with pytest.raises(ValueError, match="cross_layers"):
        DCNInteraction(num_cross_layers=0)
