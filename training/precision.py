"""The Keras dtype policy a Trainer runs under, from ``train.mixed_precision``.

``mixed_precision = true`` means ``mixed_float16`` on a GPU: float16 maths with float32 weights,
and Keras' ``compile`` wraps the optimizer in a ``LossScaleOptimizer``, which
``models/train_step.py`` applies (the loss multiplied by the loss scale, the gradients divided by
it). On a machine without a GPU the run falls back to float32 and logs why, rather than refusing:
the same config then trains on a laptop or in CI as on the GPU machine it was written for, with
the same model quality. float16 has no fast path on CPUs (XLA or not), and bfloat16 is fast only
on CPUs with AMX/AVX512-BF16 and costs accuracy, so float32 is what a CPU user wants.
"""

from __future__ import annotations

import tensorflow as tf
from absl import logging

from recsys.config import TrainConfig


def configure_precision(train: TrainConfig, gpus: int | None = None) -> str:
    """Sets Keras' global dtype policy for ``train`` and returns its name. ``gpus``: how many
    GPUs TF sees (default: this process's; tests pass their own)."""
    if gpus is None:
        gpus = len(tf.config.list_physical_devices("GPU"))
    policy = "float32"
    if train.mixed_precision and gpus:
        policy = "mixed_float16"
    elif train.mixed_precision:
        logging.warning("train.mixed_precision: true, but TensorFlow sees no GPU: training in "
                        "float32 (mixed_float16 is for GPUs; a CPU has no fast float16 path)")
    tf.keras.mixed_precision.set_global_policy(policy)
    return policy
