"""The field matrix [B, F, d] that FM and AutoInt interact over, from the Ranker's field vectors.

The Ranker hands interaction blocks one vector per field, of the field's own width: an embedded id
(or a pooled sequence) is [B, d_f], a numeric z-score is [B, 1]. FM and AutoInt need one common
width d. We project rather than require one embedding dimension, because a numeric field is width
1 whatever the config says: a field of width w != d is mapped by its own bias-free linear map
[w, d]. For a z-score x that is ``x * v_f``, exactly how the AutoInt paper embeds a numeric field
(Song et al. 2019, Eq. 2) and how an FM treats a real-valued feature (x_i v_i); a field already of
width d (every embedded field under one ``train.embedding_dim``) passes through unchanged, so an
FM over id fields is the textbook FM over their shared embeddings.
"""

from __future__ import annotations

import tensorflow as tf

keras = tf.keras


class FieldStack(keras.layers.Layer):
    """Stacks field vectors {name: [B, w_name]} into [B, F, dim] (fields in sorted-name order).

    Args:
      dim: the common width d. Fields of another width get a bias-free ``Dense(dim)`` each.

    Call args:
      fields: name -> [B, w] float tensors.

    Returns:
      [B, F, dim].
    """

    def __init__(self, dim: int, **kwargs):
        super().__init__(**kwargs)
        if dim < 1:
            raise ValueError(f"FieldStack: dim={dim!r}; expected an integer >= 1")
        self.dim = int(dim)
        self.projections: dict[str, keras.layers.Dense] = {}

    def build(self, input_shape):
        if not isinstance(input_shape, dict) or not input_shape:
            raise ValueError(f"FieldStack: expected a non-empty dict of field vectors; got {input_shape!r}")
        projections = {}
        for name in sorted(input_shape):
            width = tf.TensorShape(input_shape[name])[-1]
            if width != self.dim:
                projections[name] = keras.layers.Dense(self.dim, use_bias=False, name=f"to_{name}")
        self.projections = projections  # assigned once: Keras tracks the dict's layers
        super().build(input_shape)

    def call(self, fields):
        out = []
        for name in sorted(fields):
            v = tf.cast(fields[name], self.compute_dtype)
            out.append(self.projections[name](v) if name in self.projections else v)
        return tf.stack(out, axis=1)

    def get_config(self):
        return {**super().get_config(), "dim": self.dim}
