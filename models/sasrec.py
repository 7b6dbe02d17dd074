"""SASRec's sequence encoder (Kang & McAuley 2018, https://arxiv.org/abs/1808.09781): causal
multi-head self-attention blocks over the behaviour history with learned positions; the newest
position's output is the sequence vector the query tower uses in place of the mean. Every
position's output is also available (``all_positions=True``): the paper trains each one to
predict the item after it, which ``next_item_loss.py`` adds while training
(``retrieval.sasrec.all_positions_weight``).

Layout: the data writes every history **most recent first**, padded at the end (``[newest, ...,
oldest, pad, pad]``). So position ``i`` is the item ``i`` steps back, and "causal" (an item sees
only itself and what came before it) means position ``i`` attends to positions ``j >= i``: an
upper-triangular mask, not Keras' ``use_causal_mask`` (lower-triangular, for oldest-first data).
Positions count back from the newest item, so extra padding moves nothing; padded keys are masked
out and padded inputs zeroed, so padding never changes the output either.

Each block is the paper's: ``Q = LayerNorm(x)``, ``x = Q + MHA(Q, x, x)``, then
``x = x + FFN(LayerNorm(x))`` with a point-wise two-layer FFN, dropout on the attention weights
and the residual branches; a final LayerNorm. Keras' ``MultiHeadAttention`` (Einsum, Softmax,
MatMul: stock TF ops) rather than a hand-written attention.
"""

from __future__ import annotations

import tensorflow as tf

keras = tf.keras


class SASRec(keras.layers.Layer):
    """``(values [B, L, d], mask [B, L])`` most recent first -> ``[B, d]``.

    Args:
      max_length: the longest history (positions learned for 0 .. max_length - 1).
      dim: the items' embedding size d (the blocks' width).
      blocks, heads, dropout: the paper's b, h and dropout rate; ``heads`` must divide ``dim``.
    """

    def __init__(self, max_length: int, dim: int, blocks: int = 2, heads: int = 2,
                 dropout: float = 0.2, **kwargs):
        super().__init__(**kwargs)
        if dim % heads:
            raise ValueError(f"SASRec: heads = {heads} must divide the history's embedding size "
                             f"{dim}; expected a divisor of {dim}")
        self.max_length, self.dim, self.blocks, self.heads, self.rate = (
            int(max_length), int(dim), int(blocks), int(heads), float(dropout))
        self.positions = keras.layers.Embedding(self.max_length, self.dim, name="positions")
        self.dropout = keras.layers.Dropout(self.rate)
        self.attention = [keras.layers.MultiHeadAttention(self.heads, self.dim // self.heads,
                                                          dropout=self.rate, name=f"attention_{b}")
                          for b in range(self.blocks)]
        self.norm_attention = [keras.layers.LayerNormalization(epsilon=1e-8) for _ in range(self.blocks)]
        self.norm_ffn = [keras.layers.LayerNormalization(epsilon=1e-8) for _ in range(self.blocks)]
        self.ffn = [keras.Sequential([keras.layers.Dense(self.dim, activation="relu"),
                                      keras.layers.Dropout(self.rate),
                                      keras.layers.Dense(self.dim),
                                      keras.layers.Dropout(self.rate)], name=f"ffn_{b}")
                    for b in range(self.blocks)]
        self.norm_out = keras.layers.LayerNormalization(epsilon=1e-8)

    def sequence(self, values: tf.Tensor, mask: tf.Tensor, training: bool = False) -> tf.Tensor:
        """Every position's output [B, L, d] (position i from the items at i and after it)."""
        length = tf.shape(values)[1]
        keep = tf.cast(mask, values.dtype)[..., None]  # [B, L, 1]
        x = values * tf.math.sqrt(tf.cast(self.dim, values.dtype)) + self.positions(tf.range(length))
        x = self.dropout(x, training=training) * keep
        # [B, query i, key j]: j is i itself or older, and a real item.
        causal = tf.linalg.band_part(tf.ones([length, length], tf.bool), 0, -1)
        attend = tf.logical_and(causal[None], tf.cast(mask, tf.bool)[:, None, :])
        for b in range(self.blocks):
            q = self.norm_attention[b](x)
            x = q + self.attention[b](q, x, x, attention_mask=attend, training=training)
            x = x + self.ffn[b](self.norm_ffn[b](x), training=training)
            x = x * keep
        return self.norm_out(x)

    def call(self, values: tf.Tensor, mask: tf.Tensor, training: bool = False,
             all_positions: bool = False):
        """The sequence vector [B, d]; with ``all_positions`` also every position's output
        [B, L, d] (one pass: what the training-only next-item loss, ``next_item_loss.py``, reads)."""
        positions = self.sequence(values, mask, training=training)
        out = positions[:, 0]
        # An empty history attends to nothing: the zero vector, as the mean pool gives.
        out = tf.where(tf.reduce_any(tf.cast(mask, tf.bool), axis=1, keepdims=True), out,
                       tf.zeros_like(out))
        return (out, positions) if all_positions else out

    def get_config(self):
        return {**super().get_config(), "max_length": self.max_length, "dim": self.dim,
                "blocks": self.blocks, "heads": self.heads, "dropout": self.rate}
