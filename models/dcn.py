"""DCN-v2 feature interaction (Wang et al. 2021, https://arxiv.org/abs/2008.13535).

The cross layer itself is TFRS's ``tfrs.layers.dcn.Cross``
(x_{l+1} = x0 * (W x_l + b) + x_l, with W = U V^T when ``projection_dim`` is set): we reuse it
rather than re-derive it. This block stacks cross layers and combines them with the deep MLP in the
paper's two structures:

* stacked:  x0 -> cross^L -> deep MLP
* parallel: concat(cross^L(x0), deep MLP(x0))
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_recommenders as tfrs

keras = tf.keras


def mlp(units: tuple[int, ...], dropout: float = 0.0, name: str = "mlp") -> keras.Sequential:
    layers = []
    for u in units:
        layers.append(keras.layers.Dense(u, activation="relu"))
        if dropout:
            layers.append(keras.layers.Dropout(dropout))
    return keras.Sequential(layers, name=name)


class DCNInteraction(keras.layers.Layer):
    """Cross network + deep network, ``structure`` 'stacked' or 'parallel'."""

    def __init__(self, num_cross_layers: int = 2, projection_dim: int | None = None,
                 deep_layers: tuple[int, ...] = (256, 128), structure: str = "stacked",
                 dropout: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        if structure not in ("stacked", "parallel"):
            raise ValueError(f"cross_structure={structure!r}; expected 'stacked' or 'parallel'")
        if num_cross_layers < 1:
            raise ValueError(f"cross_layers={num_cross_layers}; expected >= 1")
        self.structure = structure
        self.cross = [tfrs.layers.dcn.Cross(projection_dim=projection_dim or None,
                                            kernel_initializer="glorot_uniform", name=f"cross_{i}")
                      for i in range(num_cross_layers)]
        self.deep = mlp(deep_layers, dropout, name="deep")

    def call(self, x0: tf.Tensor, training: bool = False) -> tf.Tensor:
        x = x0
        for layer in self.cross:
            x = layer(x0, x)
        if self.structure == "stacked":
            return self.deep(x, training=training)
        return tf.concat([x, self.deep(x0, training=training)], axis=-1)
