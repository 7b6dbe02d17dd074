"""Golden values for AutoInt's interacting layer (models/autoint.py), derived by hand."""

import numpy as np
import pytest
import tensorflow as tf

from recsys.models.autoint import AutoIntInteraction, InteractingLayer

# Two fields, d = 2: e1 = [1, 0], e2 = [1, 1].
E = np.array([[[1.0, 0.0], [1.0, 1.0]]], np.float32)


def _identity(layer: InteractingLayer):
    """W_Q = W_K = W_V = W_O = W_res = I (one head of width 2)."""
    layer(tf.constant(E))
    eye = np.eye(2, dtype=np.float32)
    for w in layer.attention.weights:  # q/k/v kernels [2, 1, 2], output kernel [1, 2, 2]
        w.assign(eye.reshape(w.shape))
    layer.residual.set_weights([eye])


def test_one_head_identity_attention_by_hand():
    # Scores q.k / sqrt(2):
    #   e1: [e1.e1, e1.e2] / sqrt2 = [1, 1] / sqrt2 -> softmax [0.5, 0.5] -> 0.5 e1 + 0.5 e2 = [1, 0.5]
    #   e2: [e2.e1, e2.e2] / sqrt2 = [0.70711, 1.41421] -> softmax
    #       w1 = 1 / (1 + exp(0.70711)) = 1 / 3.02811 = 0.33023, w2 = 0.66977
    #       -> 0.33023 [1, 0] + 0.66977 [1, 1] = [1, 0.66977]
    # + residual (W_res = I): [1, 0.5] + [1, 0] = [2, 0.5]; [1, 0.66977] + [1, 1] = [2, 1.66977]
    # ReLU keeps them (all positive).
    layer = InteractingLayer(num_heads=1, head_dim=2)
    _identity(layer)
    np.testing.assert_allclose(layer(tf.constant(E)).numpy(), [[[2.0, 0.5], [2.0, 1.66977]]], atol=1e-5)


def test_relu_clips_a_negative_residual():
    # W_res = -3 I: e1 -> [1, 0.5] - [3, 0] = [-2, 0.5] -> ReLU [0, 0.5];
    #               e2 -> [1, 0.66977] - [3, 3] = [-2, -2.33] -> [0, 0]
    layer = InteractingLayer(num_heads=1, head_dim=2)
    _identity(layer)
    layer.residual.set_weights([-3 * np.eye(2, dtype=np.float32)])
    np.testing.assert_allclose(layer(tf.constant(E)).numpy(), [[[0.0, 0.5], [0.0, 0.0]]], atol=1e-5)


def test_autoint_block_flattens_the_fields_then_the_deep_part():
    fields = {"a": tf.constant(E[:, 0]), "b": tf.constant(E[:, 1])}
    block = AutoIntInteraction(dim=2, attention_layers=1, num_heads=1, head_dim=2, deep_layers=(3,))
    block(fields)
    _identity(block.layers_[0])
    out = block(fields).numpy()
    assert out.shape == (1, 2 * 2 + 3)
    np.testing.assert_allclose(out[:, :4], [[2.0, 0.5, 2.0, 1.66977]], atol=1e-5)
    only = AutoIntInteraction(dim=2, attention_layers=2, deep_layers=())
    assert only(fields).shape == (1, 4)


def test_bad_settings_name_the_field():
    with pytest.raises(ValueError, match="num_heads=0"):
        InteractingLayer(num_heads=0, head_dim=2)
    with pytest.raises(ValueError, match="attention_layers=0"):
        AutoIntInteraction(dim=2, attention_layers=0)
