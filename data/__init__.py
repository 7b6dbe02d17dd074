"""Data sources (synthetic e-commerce log, MovieLens) and the canonical tf.Example writer."""

import recsys  # noqa: F401  (sets Keras 2 before TensorFlow is imported)
