"""ESMM: the Entire Space Multi-task Model (Ma et al. 2018, https://arxiv.org/abs/1804.07931).

A conversion (purchase) only happens after a click, so a CVR model trained on clicked impressions
only is trained on a different population than the one it scores at serving (every impression),
and on far fewer examples. ESMM never fits pCVR on its own: it predicts

    pCTCVR = p(click & buy | x) = pCTR(x) * pCVR(x)

and trains it against the conversion label over **all** impressions, next to pCTR against the
click; pCVR is learnt only through that product. Here pCTR is the ranker's own logit and pCVR the
Ranker's auxiliary head (``models/ranking.py``'s ``aux_task``, with ``aux_product``): the CTCVR
task below is that auxiliary task. Which hidden vector each head reads is the towers block's
choice: ``CVRTower`` (plain ESMM) or ``models/mmoe.py`` (MMoE).
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_recommenders as tfrs

from recsys.models.dcn import mlp

keras = tf.keras


def ctcvr_probability(ctr_logit: tf.Tensor, cvr_logit: tf.Tensor) -> tf.Tensor:
    """pCTCVR = sigmoid(ctr_logit) * sigmoid(cvr_logit)."""
    return tf.sigmoid(ctr_logit) * tf.sigmoid(cvr_logit)


def make_ctcvr_task() -> tfrs.tasks.Ranking:
    """The CTCVR task: binary cross-entropy of the conversion label against pCTCVR (a probability,
    not a logit: the product has no logit of its own), over every impression."""
    return tfrs.tasks.Ranking(
        loss=keras.losses.BinaryCrossentropy(from_logits=False),
        metrics=[keras.metrics.AUC(name="ctcvr_auc"),
                 keras.metrics.BinaryCrossentropy(name="ctcvr_logloss")])


class CVRTower(keras.layers.Layer):
    """ESMM's towers over the ranker's hidden vector h: the CTR head reads h itself (so the CTR side
    is exactly the single-task ranker), the CVR head reads MLP(h), a tower of its own.

    Returns ``(h, MLP(h))``: the (main, auxiliary) heads' inputs.
    """

    def __init__(self, tower_layers: tuple[int, ...] = (64,), dropout: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.tower = mlp(tuple(tower_layers), dropout, name="cvr_tower")

    def call(self, hidden: tf.Tensor, training: bool = False):
        return hidden, self.tower(hidden, training=training)
