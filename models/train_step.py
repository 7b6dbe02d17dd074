"""The training step of the TFRS models (rankers and two towers), made correct under a
``tf.distribute`` strategy and under ``mixed_float16``.

TFRS's ``tfrs.models.Model.train_step`` differentiates the loss and applies the gradients as they
are. That is right on one device in float32 only:

* Under a strategy with N replicas (``training/distribution.py``) ``apply_gradients`` **sums** the
  replicas' gradients. A task loss that is a mean over the replica's share of the global batch
  (the rankers' BCE / MSE) must then be divided by N, as Keras' own ``train_step`` does
  (``scale_loss_for_distribution``), or each step is N times too large (Wide&Deep's FTRL is not
  scale-invariant; Adam nearly is). A summed loss (TFRS's retrieval task) already adds up to the
  global batch's sum. Regularisation penalties are added by every replica: divided by N always.
  Keras also refuses a mean-reduced loss under a strategy outside ``compile``'s losses (it cannot
  know the step divides by N); ``compile`` here lifts that for the tasks' losses, as Keras'
  ``compile`` does for its own.
* Under ``mixed_float16`` Keras wraps the optimizer in a ``LossScaleOptimizer``, but only a step
  that multiplies the loss by the loss scale and divides the gradients by it keeps small float16
  gradients from flushing to zero; TFRS's step does neither, so this one does, as Keras' does.
* What ``fit`` and ``evaluate`` report: Keras reduces a step's outputs over the replicas with
  ``distribute_reduction_method``, whose ``"auto"`` means a SUM off TPUs. The metrics' results
  are already the global figure (their sync-on-read variables are aggregated when read), so the
  sum reported each metric times the number of workers (an AUC of 1.34 on two workers) and the
  loss as the sum of the replicas' losses. Here the metrics are taken from the first replica and
  the losses are the replicas' mean (an all-reduce): the figures of one device on the same batch.
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_recommenders as tfrs

keras = tf.keras
_MEAN = (keras.losses.Reduction.AUTO, keras.losses.Reduction.SUM_OVER_BATCH_SIZE)


class DistributedTrainStep:
    """Mixin placed before ``tfrs.models.Model`` in the bases: its ``train_step`` with the replica
    and loss-scale corrections above (the same step as TFRS's on one device in float32)."""

    def compile(self, *args, **kwargs):
        super().compile(*args, **kwargs)
        losses = [getattr(m, "_loss", None) for m in self.submodules
                  if isinstance(m, tfrs.tasks.base.Task)]
        mean = [loss for loss in losses if getattr(loss, "reduction", None) in _MEAN]
        for loss in mean:
            # The private switch Keras' compile sets on its own losses (compile_utils): Keras
            # has no public one, and TFRS tasks hold their loss outside compile.
            loss._allow_sum_over_batch_size = True  # noqa: SLF001
        self._task_loss_is_mean = bool(mean)
        # Every output of the steps below is the same on every replica (see the module docstring).
        self.distribute_reduction_method = "first"

    # Not converted by AutoGraph: the steps have no tensor-dependent Python control flow, and
    # converting every Keras and TFRS layer's source under them cost ~20 CPU seconds per
    # Trainer (85% of the tiny ranker's fit); with conversion off here Keras leaves the layers'
    # calls unconverted too. A layer that needs AutoGraph fails at tracing, naming the layer.
    @tf.autograph.experimental.do_not_convert
    def train_step(self, inputs):
        optimizer = self.optimizer
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        scaled = isinstance(optimizer, keras.mixed_precision.LossScaleOptimizer)
        with tf.GradientTape() as tape:
            loss = self.compute_loss(inputs, training=True)
            regularization_loss = tf.cast(sum(self.losses), loss.dtype) if self.losses else 0.0
            total_loss = loss + regularization_loss
            step_loss = ((loss / replicas if getattr(self, "_task_loss_is_mean", True) else loss)
                         + regularization_loss / replicas)
            if scaled:
                step_loss = optimizer.get_scaled_loss(step_loss)
        gradients = tape.gradient(step_loss, self.trainable_variables)
        if scaled:
            gradients = optimizer.get_unscaled_gradients(gradients)
        optimizer.apply_gradients(zip(gradients, self.trainable_variables))
        return self._report(loss, regularization_loss, total_loss)

    @tf.autograph.experimental.do_not_convert
    def test_step(self, inputs):
        loss = self.compute_loss(inputs, training=False)
        regularization_loss = tf.cast(sum(self.losses), loss.dtype) if self.losses else 0.0
        return self._report(loss, regularization_loss, loss + regularization_loss)

    def _report(self, loss, regularization_loss, total_loss):
        """The step's figures as TFRS reports them, each the same on every replica: the metrics'
        (global) results and the losses' mean over the replicas."""
        metrics = {metric.name: metric.result() for metric in self.metrics}
        losses = dict(loss=loss, regularization_loss=regularization_loss, total_loss=total_loss)
        context = tf.distribute.get_replica_context()
        if context is not None and context.num_replicas_in_sync > 1:
            losses = {k: context.all_reduce(tf.distribute.ReduceOp.MEAN, tf.cast(v, tf.float32))
                      for k, v in losses.items()}
        metrics.update(losses)
        return metrics
