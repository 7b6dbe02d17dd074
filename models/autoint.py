"""AutoInt (Song et al. 2019, https://arxiv.org/abs/1810.11921): multi-head self-attention over the
feature fields, so each field attends to the fields it interacts with; residual, stacked.

One interacting layer over the field matrix E [B, F, d] (paper Eq. 5-8):

    E' = ReLU(MultiHeadAttention(E, E, E) + E W_res)

The attention is Keras' ``MultiHeadAttention`` (scaled dot product, heads concatenated and
projected back to d; no biases, as in the paper's W_Q, W_K, W_V); ``W_res`` is a bias-free Dense.
The last layer's output, flattened [B, F * d], is the block's hidden vector; with ``deep`` it is
concatenated with the deep MLP over the same fields (the paper's AutoInt+), and the ``Ranker``'s
head makes the logit.
"""

from __future__ import annotations

from typing import Sequence

import tensorflow as tf

from recsys.models.dcn import mlp
from recsys.models.fields import FieldStack
from recsys.models.inputs import concat_fields

keras = tf.keras


class InteractingLayer(keras.layers.Layer):
    """One AutoInt layer: [B, F, d] -> [B, F, d] = ReLU(MHA(E, E, E) + E W_res)."""

    def __init__(self, num_heads: int, head_dim: int, **kwargs):
        super().__init__(**kwargs)
        if num_heads < 1 or head_dim < 1:
            raise ValueError(f"autoint: num_heads={num_heads!r}, head_dim={head_dim!r}; "
                             "expected integers >= 1")
        self.num_heads, self.head_dim = int(num_heads), int(head_dim)
        self.attention = keras.layers.MultiHeadAttention(num_heads, head_dim, use_bias=False,
                                                         name="attention")
        self.residual = None

    def build(self, input_shape):
        self.residual = keras.layers.Dense(int(input_shape[-1]), use_bias=False, name="residual")
        super().build(input_shape)

    def call(self, e: tf.Tensor) -> tf.Tensor:
        return tf.nn.relu(self.attention(e, e, e) + self.residual(e))

    def get_config(self):
        return {**super().get_config(), "num_heads": self.num_heads, "head_dim": self.head_dim}


class AutoIntInteraction(keras.layers.Layer):
    """AutoInt as a ``Ranker`` interaction block (it takes the field vectors).

    Args:
      dim: the common field width d (``FieldStack``: other widths are projected).
      attention_layers, num_heads, head_dim: the interacting layers.
      deep_layers: the parallel deep MLP's widths (AutoInt+); empty: attention only.
      dropout: after each deep hidden layer, while training.

    Returns:
      [B, F * d (+ deep_layers[-1])].
    """

    takes_fields = True

    def __init__(self, dim: int, attention_layers: int = 2, num_heads: int = 2, head_dim: int = 8,
                 deep_layers: Sequence[int] = (256, 128), dropout: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        if attention_layers < 1:
            raise ValueError(f"autoint: attention_layers={attention_layers!r}; expected >= 1")
        self.stack = FieldStack(dim, name="fields")
        self.layers_ = [InteractingLayer(num_heads, head_dim, name=f"interacting_{i}")
                        for i in range(attention_layers)]
        self.deep = mlp(tuple(deep_layers), dropout, name="deep") if deep_layers else None

    def call(self, fields, training: bool = False) -> tf.Tensor:
        e = self.stack(fields)
        for layer in self.layers_:
            e = layer(e)
        out = tf.reshape(e, [-1, e.shape[1] * e.shape[2]])
        if self.deep is None:
            return out
        return tf.concat([out, self.deep(concat_fields(fields, self.compute_dtype), training=training)],
                         axis=-1)
