"""Wide & Deep (Cheng et al. 2016, https://arxiv.org/abs/1606.07792).

The logit is the sum of a linear model over sparse (and crossed) ids -- memorisation -- and a deep
MLP over the embeddings -- generalisation -- trained jointly (paper Eq. 3):

    P(y = 1 | x) = sigmoid(w_wide^T [x, phi(x)] + w_deep^T a^(lf) + b)

In ``models.ranking.Ranker`` the deep part is the ``interaction`` block (``DeepMLP``; the Ranker's
head is ``w_deep^T a + b``) and the wide part is the ``wide`` block (``WideLinear``), whose logit is
added to the head's. As in the paper, the wide part is meant for FTRL (with L1) and the deep part
for Adam/AdaGrad: ``WideLinear.wide_variables`` names the variables to hand to FTRL.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import tensorflow as tf

from recsys.models.dcn import mlp

keras = tf.keras


class WideLinear(keras.layers.Layer):
    """A linear model over id features: ``logit = b + sum_f sum_{i in ids_f} w_f[i]``.

    This is ``w^T x + b`` for a one-hot / multi-hot ``x``, computed as one 1-dim embedding table
    per feature (a lookup is a sparse dot product). Quantile buckets (``*_bucket``) and crossed
    features are ids like any other: crosses are precomputed by Transform and simply named here.

    Args:
      sizes: feature name -> vocabulary size (ids in ``[0, size)``).
      use_bias: add the global bias ``b``.
      initializer: weight initializer. Zeros (the default) is the usual start for a linear model,
        and it keeps FTRL's lazy sparse updates consistent: FTRL recomputes a touched row from
        its accumulators, which for a never-trained row means 0.
      l2: L2 penalty ``l2 * sum(w^2)`` per table (0: none; FTRL brings its own regularisation,
        while the per-id biases of ``models.factory``'s ``id_bias`` block, trained by Adam, need it).
      **kwargs: Keras layer args. The layer runs in float32 unless a dtype is given: summing
        many small weights in 16 bits is lossy, and the Ranker adds the logit in float32.

    Call args:
      features: transformed features; ``features[name]`` is int ids [B] (single-valued) or
        [B, L] padded with -1 (multi-valued); other keys are ignored.

    Returns:
      [B, 1] the wide logit.
    """

    def __init__(self, sizes: Mapping[str, int], use_bias: bool = True,
                 initializer="zeros", l2: float = 0.0, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        if not sizes:
            raise ValueError("WideLinear needs at least one id feature in `sizes`")
        bad = {k: v for k, v in sizes.items() if int(v) < 1}
        if bad:
            raise ValueError(f"vocabulary sizes must be >= 1; got {bad}")
        self.sizes = {k: int(v) for k, v in sizes.items()}
        self.use_bias = use_bias
        self.initializer = keras.initializers.get(initializer)
        self.l2 = float(l2)
        reg = keras.regularizers.L2(self.l2) if self.l2 else None
        self.tables = {}
        # Variables are created now, so ``wide_variables`` is complete before the first call
        # (optimizer set-up); the name scopes give them the names a lazy build would
        # ("wide_linear/wide_<feature>/embeddings"), so they stay identifiable by name too.
        with tf.name_scope(self.name):
            for name in sorted(self.sizes):
                table = keras.layers.Embedding(self.sizes[name], 1, dtype=self.dtype,
                                               embeddings_initializer=self.initializer,
                                               embeddings_regularizer=reg, name=f"wide_{name}")
                with tf.name_scope(table.name):
                    table.build((None,))
                self.tables[name] = table
            self.bias = (self.add_weight(name="bias", shape=(1,), initializer="zeros")
                         if use_bias else None)

    @property
    def wide_variables(self) -> list[tf.Variable]:
        """Every variable of the wide part (the tables and the bias): the FTRL optimizer's set."""
        return list(self.trainable_variables)

    def call(self, features):
        missing = sorted(set(self.sizes) - set(features))
        if missing:
            raise KeyError(f"wide features {missing} are not in the inputs {sorted(features)}")
        logit = 0.0
        for name in sorted(self.sizes):
            ids = tf.cast(features[name], tf.int64)
            ids = tf.reshape(ids, [tf.shape(ids)[0], -1])  # [B] -> [B, 1]; [B, L] unchanged
            valid = ids >= 0
            # Pads (-1) look up row 0 and are then selected away: a dense, XLA-friendly lookup
            # whose gradient to row 0 from a pad is exactly 0.
            w = tf.squeeze(self.tables[name](tf.maximum(ids, 0)), axis=-1)  # [B, L]
            logit += tf.reduce_sum(tf.where(valid, w, tf.zeros_like(w)), axis=1, keepdims=True)
        if self.bias is not None:
            logit += self.bias
        return logit

    def get_config(self):
        return {**super().get_config(), "sizes": self.sizes, "use_bias": self.use_bias,
                "initializer": keras.initializers.serialize(self.initializer), "l2": self.l2}


class DeepMLP(keras.layers.Layer):
    """Wide&Deep's deep part as a ``Ranker`` ``interaction`` block: ``a^(l+1) = relu(W a^(l) + b)``.

    The input is the concatenation of all feature embeddings (and numeric z-scores) [B, D]; the
    Ranker's head turns the last hidden layer into the deep logit.

    Args:
      units: hidden layer widths (the paper uses 1024-512-256).
      dropout: dropout rate after each hidden layer (training only).

    Call args:
      x: [B, D] concatenated features.
      training: enables dropout.

    Returns:
      [B, units[-1]].
    """

    def __init__(self, units: Sequence[int] = (256, 128), dropout: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        if not units:
            raise ValueError("DeepMLP needs at least one hidden layer in `units`")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout={dropout}; expected 0 <= dropout < 1")
        self.units = tuple(int(u) for u in units)
        self.dropout = dropout
        # The same MLP as DCN's deep network, so the variants differ only in what they add to it.
        self.mlp = mlp(self.units, dropout, name="deep")

    def call(self, x, training=False):
        return self.mlp(x, training=training)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "dropout": self.dropout}
