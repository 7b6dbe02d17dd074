"""DeepFM (Guo et al. 2017, https://arxiv.org/abs/1703.04247): an FM and a deep MLP over the same
field embeddings, their outputs summed into one logit.

The FM's second-order term is the sum of every pair's inner product,

    y_FM2 = sum_{i<j} <v_i, v_j> = 1/2 * sum_k ((sum_i v_ik)^2 - sum_i v_ik^2)     (Rendle 2010)

which we take from TFRS's ``DotInteraction`` (DLRM's pairwise dot products) summed, rather than
re-deriving it; the golden test checks it against the right-hand side by hand. In the ``Ranker``
the block returns ``concat(deep MLP(x), y_FM2)`` and the Ranker's head sums them into the logit,
``w^T a + w_fm * y_FM2 + b``: the paper's ``y_DNN + y_FM`` with a learned scale on the FM term.
The FM's first-order term ``<w, x>`` over the ids is the logit's ``id_bias`` block
(``b + b_u + b_i``, ``train.id_bias``); the other fields' linear weights are left to the deep part,
which sees the same embeddings.
"""

from __future__ import annotations

from typing import Sequence

import tensorflow as tf
import tensorflow_recommenders as tfrs

from recsys.models.dcn import mlp
from recsys.models.fields import FieldStack
from recsys.models.inputs import concat_fields

keras = tf.keras


class FactorizationMachine(keras.layers.Layer):
    """The FM second-order term of a field matrix: [B, F, d] -> [B, 1] = sum_{i<j} <v_i, v_j>."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        # skip_gather: the F x F products with the upper triangle zeroed, no gather (TFRS: "much
        # faster"); their sum is the same.
        self.dot = tfrs.layers.feature_interaction.DotInteraction(self_interaction=False,
                                                                  skip_gather=True)

    def call(self, v: tf.Tensor) -> tf.Tensor:
        if v.shape.rank != 3:
            raise ValueError(f"FactorizationMachine: input shape {v.shape}; expected [B, F, d]")
        pairs = self.dot(tf.unstack(v, axis=1))
        return tf.reduce_sum(pairs, axis=-1, keepdims=True)


class DeepFMInteraction(keras.layers.Layer):
    """DeepFM as a ``Ranker`` interaction block (it takes the field vectors).

    Args:
      dim: the FM's common field width (``FieldStack``: other widths are projected).
      deep_layers: the deep part's hidden widths (the same MLP as DCN's and Wide&Deep's).
      dropout: after each hidden layer, while training.

    Returns:
      [B, deep_layers[-1] + 1]: the deep part's last layer and the FM term.
    """

    takes_fields = True

    def __init__(self, dim: int, deep_layers: Sequence[int] = (256, 128), dropout: float = 0.0,
                 **kwargs):
        super().__init__(**kwargs)
        if not deep_layers:
            raise ValueError("deepfm: deep_layers is empty; expected at least one hidden layer")
        self.stack = FieldStack(dim, name="fields")
        self.fm = FactorizationMachine(name="fm")
        self.deep = mlp(tuple(deep_layers), dropout, name="deep")

    def call(self, fields, training: bool = False) -> tf.Tensor:
        fm = self.fm(self.stack(fields))
        deep = self.deep(concat_fields(fields, self.compute_dtype), training=training)
        return tf.concat([deep, fm], axis=-1)
