"""The TFX pipeline factory and its runners."""

import recsys  # noqa: F401  (sets Keras 2 before TensorFlow is imported)
