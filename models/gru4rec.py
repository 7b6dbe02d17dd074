"""GRU4Rec's sequence encoder (Hidasi et al. 2016, https://arxiv.org/abs/1511.06939): a GRU reads
the behaviour history from the oldest item to the newest, and its final state is the sequence
vector the query tower uses in place of the mean.

The data writes every history **most recent first** and Transform pads it at the end with -1
(``[newest, ..., oldest, pad, pad]``), so the GRU runs with ``go_backwards=True``: it meets the
pads first, skips them (masked steps carry the state over unchanged), then goes oldest -> newest.
Extra padding therefore never changes the result, and an empty history gives the zero vector
(the initial state), as the mean pool does.

``unroll=True``: the history is short (``max_length`` of the feature config, 20 on MovieLens) and
an unrolled GRU is plain MatMul/Sigmoid/Tanh ops, so the exported SavedModel holds no while loop
and no cuDNN kernel that a CPU-only TF Serving could not run.
"""

from __future__ import annotations

import tensorflow as tf

keras = tf.keras


class GRU4Rec(keras.layers.Layer):
    """``(values [B, L, d], mask [B, L])`` most recent first -> ``[B, units]``.

    Args:
      units: the GRU's state size (the sequence vector's width).
      dropout: dropout on the GRU's inputs while training.
    """

    def __init__(self, units: int, dropout: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.gru = keras.layers.GRU(self.units, go_backwards=True, unroll=True, dropout=dropout)

    def call(self, values: tf.Tensor, mask: tf.Tensor, training: bool = False) -> tf.Tensor:
        return self.gru(values, mask=tf.cast(mask, tf.bool), training=training)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "dropout": self.gru.dropout}
