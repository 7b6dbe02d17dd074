"""Serving: TF Serving config and REST clients."""

import recsys  # noqa: F401  (sets Keras 2 before TensorFlow is imported)
