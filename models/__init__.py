"""Keras ranking and retrieval models: layers, blocks, the ranking core, export."""

import recsys  # noqa: F401  (sets Keras 2 before TensorFlow is imported)
