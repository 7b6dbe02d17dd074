"""Data sources (synthetic e-commerce log, MovieLens) and the canonical tf.Example writer."""
