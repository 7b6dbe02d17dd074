"""Core of the recommender: typed configs, the feature config and the command line."""

import os

# TFRS and TFX 1.16 need Keras 2 (tf-keras); TensorFlow picks the Keras version at import time,
# so this must be set before anything imports TensorFlow. Every package imports ``recsys`` first.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
