"""The training step of the TFRS models (rankers and two towers), made correct under a
``tf.distribute`` strategy and under ``mixed_float16``.

TFRS's ``tfrs.models.Model.train_step`` differentiates the loss and applies the gradients as they
are. That is right on one device in float32 only:

* Under a strategy with N replicas (``training/distribution.py``), each replica's loss is the mean
  over *its* share of the global batch, and ``apply_gradients`` **sums** the replicas' gradients,
  so the step would be N times too large (Wide&Deep's FTRL is not scale-invariant; Adam nearly
  is). Keras' own ``train_step`` divides the loss by N for this
  (``scale_loss_for_distribution``); this step does the same.
* Under ``mixed_float16`` Keras wraps the optimizer in a ``LossScaleOptimizer``, but only a step
  that multiplies the loss by the loss scale and divides the gradients by it keeps small float16
  gradients from flushing to zero; TFRS's step does neither, so this one does, as Keras' does.
"""

from __future__ import annotations

import tensorflow as tf

keras = tf.keras


class DistributedTrainStep:
    """Mixin placed before ``tfrs.models.Model`` in the bases: its ``train_step`` with the replica
    and loss-scale corrections above (identical to TFRS's on one device in float32)."""

    def train_step(self, inputs):
        optimizer = self.optimizer
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        scaled = isinstance(optimizer, keras.mixed_precision.LossScaleOptimizer)
        with tf.GradientTape() as tape:
            loss = self.compute_loss(inputs, training=True)
            regularization_loss = tf.cast(sum(self.losses), loss.dtype) if self.losses else 0.0
            total_loss = loss + regularization_loss
            step_loss = total_loss / replicas  # summed over the replicas by apply_gradients
            if scaled:
                step_loss = optimizer.get_scaled_loss(step_loss)
        gradients = tape.gradient(step_loss, self.trainable_variables)
        if scaled:
            gradients = optimizer.get_unscaled_gradients(gradients)
        optimizer.apply_gradients(zip(gradients, self.trainable_variables))
        metrics = {metric.name: metric.result() for metric in self.metrics}
        metrics.update(loss=loss, regularization_loss=regularization_loss, total_loss=total_loss)
        return metrics
