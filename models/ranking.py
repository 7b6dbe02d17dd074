"""The ranking core: every ranker is ``embed -> pool sequences -> interact -> logit``.

Variants (DCN-v2, Wide&Deep, DIN) differ only in the injected blocks, as TFRS's
``experimental.models.Ranking(feature_interaction=...)`` does: the factory in ``models/factory.py``
picks them. The loss and metrics live in a ``tfrs.tasks.Ranking`` task.
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_recommenders as tfrs

from recsys.models.esmm import ctcvr_probability
from recsys.models.inputs import FeatureEmbedding, concat_fields, masked_mean
from recsys.models.train_step import DistributedTrainStep

keras = tf.keras


class MeanSequencePooling(keras.layers.Layer):
    """Pools each behaviour sequence to one vector by a masked mean (DIN swaps in attention)."""

    def call(self, sequences, vectors):
        del vectors  # target-independent
        return {name: masked_mean(s["values"], s["mask"]) for name, s in sequences.items()}


def make_task(label_mode: str) -> tfrs.tasks.Ranking:
    if label_mode == "binary":
        return tfrs.tasks.Ranking(
            loss=keras.losses.BinaryCrossentropy(from_logits=True),
            metrics=[keras.metrics.AUC(from_logits=True, name="auc"),
                     keras.metrics.BinaryCrossentropy(from_logits=True, name="logloss")])
    if label_mode == "regression":
        return tfrs.tasks.Ranking(loss=keras.losses.MeanSquaredError(),
                                  metrics=[keras.metrics.RootMeanSquaredError(name="rmse")])
    raise ValueError(f"label_mode={label_mode!r}; expected 'binary' or 'regression'")


class Ranker(DistributedTrainStep, tfrs.models.Model):
    """Scores (user, item, context) feature dicts from Transform; returns logits [B, 1].

    Args:
      embedding: the feature config's embedding block.
      interaction: maps the concatenated feature vector [B, D] to a hidden vector; a block whose
        class sets ``takes_fields = True`` gets the dict of field vectors {name: [B, w]} instead
        (FM and AutoInt interact per field, NeuMF picks the user and item vectors).
      task: loss and metrics (``make_task``).
      label_key: which transformed feature is the label.
      sequence_pooling: pools ``(values, mask)`` sequences to vectors; may look at the other
        vectors (DIN attends with the candidate item).
      wide: optional block added to the logit (Wide&Deep's wide part).
      bias: optional block added to the logit, e.g. per-user and per-item biases
        ``b + b_u + b_i`` as in biased matrix factorisation (``TrainConfig.id_bias``).
      aux_task: optional second task (multi-task learning): a linear head on the same hidden
        vector predicts a second label, e.g. the rating next to the binary label, and its loss,
        times ``aux_weight``, joins the main one. The labels are then ``[B, 2]`` (main, aux);
        serving still returns the main logit only.
      towers: optional block (multi-task) mapping the hidden vector to the (main, aux) heads'
        inputs: ESMM's ``CVRTower`` or ``MMoE`` (``models/esmm.py``, ``models/mmoe.py``); without
        it both heads read the hidden vector.
      aux_interaction: optional block (multi-task, paper ESMM): a second interaction block, of the
        same kind as ``interaction``, reading the same embedded fields; the aux head reads its
        output, so the two heads share only the embeddings (and the sequence pooling). Excludes
        ``towers``.
      aux_product: ESMM: ``aux_task`` is scored on pCTCVR = sigmoid(main) * sigmoid(aux) (a
        probability) against the aux label over every example, so the aux head (pCVR) is learnt
        only through that product; serving returns all three (``models/export.py``).
      oov_dropout: optional block applied to the transformed features before every other block
        while training (``inputs.OOVDropout``: trains the OOV ids' prior); identity at serving.
    """

    def __init__(self, embedding: FeatureEmbedding, interaction: keras.layers.Layer,
                 task: tfrs.tasks.Ranking, label_key: str,
                 sequence_pooling: keras.layers.Layer | None = None,
                 wide: keras.layers.Layer | None = None,
                 bias: keras.layers.Layer | None = None,
                 aux_task: tfrs.tasks.Ranking | None = None, aux_weight: float = 1.0,
                 towers: keras.layers.Layer | None = None, aux_product: bool = False,
                 aux_interaction: keras.layers.Layer | None = None,
                 oov_dropout: keras.layers.Layer | None = None, **kwargs):
        super().__init__(**kwargs)
        self.oov_dropout = oov_dropout
        self.embedding = embedding
        self.sequence_pooling = sequence_pooling or MeanSequencePooling()
        self.interaction = interaction
        # The head stays float32 under mixed precision so logits and the loss are stable.
        self.head = keras.layers.Dense(1, dtype="float32", name="logit")
        self.wide = wide
        self.bias = bias
        self.task = task
        self.label_key = label_key
        self.aux_task = aux_task
        self.aux_weight = aux_weight
        self.aux_head = keras.layers.Dense(1, dtype="float32", name="aux") if aux_task else None
        if (towers is not None or aux_product or aux_interaction is not None) and aux_task is None:
            raise ValueError("Ranker: towers / aux_product / aux_interaction need an aux_task (the "
                             "second head's loss)")
        if towers is not None and aux_interaction is not None:
            raise ValueError("Ranker: towers and aux_interaction both pick the aux head's input; "
                             "expected one of them")
        self.towers = towers
        self.aux_interaction = aux_interaction
        self.aux_product = aux_product

    def call(self, features, training: bool = False, return_hidden: bool = False,
             return_aux: bool = False):
        """Logits [B, 1]; with ``return_hidden`` also the aux head's input [B, H] (for
        ``aux_task``); with ``return_aux`` instead (main logits, aux logits), each [B, 1]."""
        logit, hidden = self._forward(features, training)
        if return_aux:
            return logit, self.aux_head(hidden)
        return (logit, hidden) if return_hidden else logit

    def _forward(self, features, training: bool):
        # Only ever run inside ``call`` (via Keras' __call__), so sub-layers see the training flag.
        if self.oov_dropout is not None:
            features = self.oov_dropout(features, training=training)
        vectors, sequences = self.embedding(features)
        pooled = self.sequence_pooling(sequences, vectors) if sequences else {}
        parts = {**vectors, **pooled}
        if getattr(self.interaction, "takes_fields", False):
            inputs = parts
        else:
            inputs = concat_fields(parts, self.compute_dtype)
        hidden = self.interaction(inputs, training=training)
        if self.aux_interaction is not None:
            aux_hidden = self.aux_interaction(inputs, training=training)
        elif self.towers is not None:
            hidden, aux_hidden = self.towers(hidden, training=training)
        else:
            aux_hidden = hidden
        logit = self.head(hidden)
        if self.wide is not None:
            logit = logit + tf.cast(self.wide(features), tf.float32)
        if self.bias is not None:
            logit = logit + tf.cast(self.bias(features), tf.float32)
        return logit, aux_hidden

    def compute_loss(self, inputs, training: bool = False) -> tf.Tensor:
        features, labels = inputs
        logits, hidden = self(features, training=training, return_hidden=True)
        if self.aux_task is None:
            return self.task(labels=tf.reshape(labels, [-1, 1]), predictions=logits)
        labels = tf.reshape(labels, [-1, 2])
        loss = self.task(labels=labels[:, :1], predictions=logits)
        aux_logits = self.aux_head(hidden)
        aux = self.aux_task(labels=labels[:, 1:], predictions=(
            ctcvr_probability(logits, aux_logits) if self.aux_product else aux_logits))
        return loss + self.aux_weight * aux
