"""NeuMF (He et al. 2017, https://arxiv.org/abs/1708.05031): neural collaborative filtering, a
generalised matrix factorisation (GMF) beside an MLP, fused before the output layer (Eq. 12):

    phi_GMF = p_u * q_i                       (element-wise)
    phi_MLP = MLP([p_u, q_i, other fields])
    y       = sigmoid(h^T [phi_GMF, phi_MLP] + b)

The ``Ranker``'s head is ``h``. The paper gives GMF and MLP separate embeddings; here both read the
feature config's one table per vocabulary (``models/inputs.py``), as DeepFM's parts share theirs:
the project keeps one id embedding per vocabulary, and the shared table is what the history's
items and the candidate item are compared in. The MLP also sees the other fields' vectors (genres,
demographics, histories), which the paper's id-only MLP does not have.
"""

from __future__ import annotations

from typing import Sequence

import tensorflow as tf

from recsys.models.dcn import mlp
from recsys.models.inputs import concat_fields

keras = tf.keras


class NeuMFInteraction(keras.layers.Layer):
    """NeuMF as a ``Ranker`` interaction block (it takes the field vectors).

    Args:
      user_key, item_key: the fields whose vectors GMF multiplies (same width).
      deep_layers: the MLP's hidden widths.
      dropout: after each MLP hidden layer, while training.
      mlp_all_fields: the MLP reads every field; False: only the user and item vectors (the
        paper's MLP).

    Returns:
      [B, d + deep_layers[-1]]: GMF's product and the MLP's last layer.
    """

    takes_fields = True

    def __init__(self, user_key: str, item_key: str, deep_layers: Sequence[int] = (256, 128),
                 dropout: float = 0.0, mlp_all_fields: bool = True, **kwargs):
        super().__init__(**kwargs)
        if not deep_layers:
            raise ValueError("neumf: deep_layers is empty; expected at least one hidden layer")
        self.user_key, self.item_key = user_key, item_key
        self.mlp_all_fields = mlp_all_fields
        self.mlp = mlp(tuple(deep_layers), dropout, name="mlp")

    def call(self, fields, training: bool = False) -> tf.Tensor:
        missing = [k for k in (self.user_key, self.item_key) if k not in fields]
        if missing:
            raise KeyError(f"neumf: fields {missing} are not among the inputs {sorted(fields)}")
        p_u = tf.cast(fields[self.user_key], self.compute_dtype)
        q_i = tf.cast(fields[self.item_key], self.compute_dtype)
        if p_u.shape[-1] != q_i.shape[-1]:
            raise ValueError(f"neumf: {self.user_key} has width {p_u.shape[-1]} and {self.item_key} "
                             f"{q_i.shape[-1]}; expected equal embedding dims for the GMF product")
        mlp_in = (concat_fields(fields, self.compute_dtype) if self.mlp_all_fields
                  else tf.concat([p_u, q_i], axis=-1))
        return tf.concat([p_u * q_i, self.mlp(mlp_in, training=training)], axis=-1)
