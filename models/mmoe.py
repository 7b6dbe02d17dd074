"""MMoE: Multi-gate Mixture-of-Experts (Ma et al. 2018, KDD, https://doi.org/10.1145/3219819.3220007).

Shared experts f_1..f_n (MLPs) read one input x; each task k has its own softmax gate and tower:

    g_k(x) = softmax(W_k x)             [n]       (one gate per task)
    m_k(x) = sum_i g_k(x)_i * f_i(x)               (the task's mixture of the experts)
    y_k    = tower_k(m_k(x))

so tasks share what helps both and keep apart what conflicts, where a shared bottom forces one
representation on both. ``x`` is the ranker's hidden vector (the output of its interaction block):
MMoE then composes with every ranker (DCN's crosses, DIN's attention, Wide&Deep's deep part)
instead of replacing its interaction. Hand-written: neither TFRS nor Keras ships MMoE.
"""

from __future__ import annotations

import tensorflow as tf

from recsys.models.dcn import mlp

keras = tf.keras


class MMoE(keras.layers.Layer):
    """``num_tasks`` task vectors from shared experts mixed by per-task softmax gates.

    Args:
      num_experts: n, the shared experts.
      expert_layers: each expert's MLP units (ReLU); the experts' output size is the last.
      num_tasks: one gate and one tower per task.
      tower_layers: each task tower's MLP units (ReLU); () returns the mixtures themselves.
    Returns: a list of ``num_tasks`` tensors [B, H] (the towers' outputs), in task order.
    Example: ``main, aux = MMoE(4, (64,), 2, (32,))(hidden)``.
    """

    def __init__(self, num_experts: int, expert_layers: tuple[int, ...], num_tasks: int = 2,
                 tower_layers: tuple[int, ...] = (), dropout: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        if num_experts < 2 or num_tasks < 1 or not expert_layers:
            raise ValueError(f"MMoE: num_experts={num_experts}, num_tasks={num_tasks}, expert_layers="
                             f"{tuple(expert_layers)}; expected >= 2 experts, >= 1 task and >= 1 layer")
        self.experts = [mlp(tuple(expert_layers), dropout, name=f"expert_{i}") for i in range(num_experts)]
        self.gates = [keras.layers.Dense(num_experts, activation="softmax", name=f"gate_{k}")
                      for k in range(num_tasks)]
        self.towers = [mlp(tuple(tower_layers), dropout, name=f"tower_{k}") if tower_layers else None
                       for k in range(num_tasks)]

    def call(self, x: tf.Tensor, training: bool = False) -> list[tf.Tensor]:
        experts = tf.stack([e(x, training=training) for e in self.experts], axis=1)  # [B, n, H]
        out = []
        for gate, tower in zip(self.gates, self.towers):
            weights = tf.cast(gate(x), experts.dtype)[:, :, None]  # [B, n, 1]
            mixture = tf.reduce_sum(weights * experts, axis=1)  # [B, H]
            out.append(mixture if tower is None else tower(mixture, training=training))
        return out
