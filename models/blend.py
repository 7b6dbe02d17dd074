"""A trained ranker blended with a KNNBaseline neighbourhood model (``TrainConfig.neighbourhood_blend``).

  logit = w_0 * ranker_logit + w_1 * baseline + w_2 * item_knn + w_3 * user_knn + c

Both parts are frozen; only the five blend weights train, on examples neither part was fitted on
(``components/trainer.py`` holds a slice of the training split out for them). Feature-level
stacking, as in the Netflix-prize blends: the deep ranker and the neighbourhood model see the
same ratings but err differently. The result is one Keras model with the ranker's interface, so
the export, its signatures and the Evaluator treat it like any ranker.
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_recommenders as tfrs

from recsys.models.neighbourhood import Neighbourhood
from recsys.models.ranking import Ranker

keras = tf.keras


class BlendedRanker(tfrs.models.Model):
    """Args:
      ranker: a trained ``Ranker`` (frozen here).
      neighbourhood: a fitted ``Neighbourhood`` layer (frozen by construction).
      task: the ranker's task (its loss fits the blend; its metrics report it).
      num_labels: 2 when the ranker trained multi-task (labels [B, 2], the first is this task's).
      weights: the blend's (kernel [4, 1], bias [1]) to start from; None: the ranker alone
        (kernel (1, 0, 0, 0), bias 0).
    """

    def __init__(self, ranker: Ranker, neighbourhood: Neighbourhood, task: tfrs.tasks.Ranking,
                 num_labels: int = 1, weights=None, **kwargs):
        super().__init__(**kwargs)
        ranker.trainable = False
        self.ranker = ranker
        self.neighbourhood = neighbourhood
        self.task = task
        self.num_labels = num_labels
        init = keras.initializers.Constant([[1.0], [0.0], [0.0], [0.0]])
        self.blend = keras.layers.Dense(1, dtype="float32", kernel_initializer=init, name="blend")
        self.blend.build((None, 4))
        if weights is not None:
            self.blend.set_weights(weights)

    @property
    def metrics(self):
        # Only the blend's own: the frozen ranker's metric objects are never updated here.
        inner = {id(m) for m in self.ranker.metrics}
        return [m for m in super().metrics if id(m) not in inner]

    def blend_inputs(self, features) -> tf.Tensor:
        """[B, 4]: the ranker's logit, baseline, item_knn, user_knn."""
        logit = tf.cast(self.ranker(features, training=False), tf.float32)
        return tf.concat([logit, self.neighbourhood(features)], axis=-1)

    def fit_blend(self, dataset, steps: int = 500, learning_rate: float = 0.05) -> None:
        """Fits the blend weights by full-batch Adam on ``dataset``'s (features, labels): a
        5-parameter regression, so the blend inputs are computed once and kept in memory."""
        inputs, labels = [], []
        for features, label in dataset:
            inputs.append(self.blend_inputs(features))
            labels.append(self._main_label(label))
        x, y = tf.concat(inputs, 0), tf.cast(tf.concat(labels, 0), tf.float32)
        optimizer = keras.optimizers.Adam(learning_rate)
        variables = self.blend.trainable_variables
        for _ in range(steps):
            with tf.GradientTape() as tape:
                loss = self.task(labels=y, predictions=self.blend(x), compute_metrics=False)
            optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))

    def call(self, features, training: bool = False):
        return self.blend(self.blend_inputs(features))

    def compute_loss(self, inputs, training: bool = False) -> tf.Tensor:
        features, labels = inputs
        return self.task(labels=self._main_label(labels), predictions=self(features, training=training))

    def _main_label(self, labels: tf.Tensor) -> tf.Tensor:
        """[B, 1]: this task's label (the first column of a multi-task ranker's [B, 2])."""
        return tf.reshape(labels, [-1, self.num_labels])[:, :1]
