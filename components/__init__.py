"""TFX custom components and the module functions (Transform, Trainer, Evaluator config)."""

import recsys  # noqa: F401  (sets Keras 2 before TensorFlow is imported)
