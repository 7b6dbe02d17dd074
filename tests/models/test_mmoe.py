"""MMoE's gates mix the shared experts per task (golden values derived by hand)."""

import math

import numpy as np
import pytest
import tensorflow as tf

from recsys.models.mmoe import MMoE


def test_each_task_mixes_two_experts_by_its_own_softmax_gate():
    """x rows [1, 2] and [1, 0]; experts Dense(2)+ReLU: e0 = identity, e1 = swap, so
    e0 = [1, 2], [1, 0] and e1 = [2, 1], [0, 1].
    Gate 0: zero kernel and bias -> softmax [0.5, 0.5] on both rows:
        row 1: 0.5 [1, 2] + 0.5 [2, 1] = [1.5, 1.5];  row 2: 0.5 [1, 0] + 0.5 [0, 1] = [0.5, 0.5].
    Gate 1: kernel [[0, 0], [ln3 / 2, 0]] -> logits [x2 ln3 / 2, 0]: row 1 [ln 3, 0] -> softmax
    [3/4, 1/4], row 2 [0, 0] -> [1/2, 1/2]:
        row 1: 0.75 [1, 2] + 0.25 [2, 1] = [1.25, 1.75];  row 2: [0.5, 0.5]."""
    layer = MMoE(num_experts=2, expert_layers=(2,), num_tasks=2, tower_layers=())
    x = tf.constant([[1.0, 2.0], [1.0, 0.0]])
    layer(x)  # builds the weights
    layer.experts[0].layers[0].set_weights([np.eye(2), np.zeros(2)])
    layer.experts[1].layers[0].set_weights([np.array([[0.0, 1.0], [1.0, 0.0]]), np.zeros(2)])
    layer.gates[0].set_weights([np.zeros((2, 2)), np.zeros(2)])
    layer.gates[1].set_weights([np.array([[0.0, 0.0], [math.log(3) / 2, 0.0]]), np.zeros(2)])
    task0, task1 = layer(x)
    np.testing.assert_allclose(task0.numpy(), [[1.5, 1.5], [0.5, 0.5]], rtol=1e-6)
    np.testing.assert_allclose(task1.numpy(), [[1.25, 1.75], [0.5, 0.5]], rtol=1e-6)


def test_towers_are_per_task_and_bad_sizes_are_named():
    layer = MMoE(num_experts=3, expert_layers=(4,), num_tasks=2, tower_layers=(5,))
    a, b = layer(tf.ones([2, 6]))
    assert a.shape == b.shape == (2, 5)
    assert layer.towers[0] is not layer.towers[1]
    with pytest.raises(ValueError, match="num_experts=1"):
        MMoE(num_experts=1, expert_layers=(4,))
