"""The TFX Transform module: ``preprocessing_fn``, the entry point TFX and Beam's workers import by
name. The preprocessing itself (per feature kind, from the feature config) is
``recsys/preprocessing.py``."""

from __future__ import annotations

import os

# TFX imports this module by name (the Transform executor, Beam workers): Keras 2 before TensorFlow.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

from typing import Any  # noqa: E402

from recsys.features import FeatureConfig  # noqa: E402
from recsys.preprocessing import transform_features  # noqa: E402


def preprocessing_fn(inputs: dict[str, Any], custom_config: dict[str, Any]) -> dict[str, Any]:
    """TFX Transform entry point; ``custom_config['features']`` is ``FeatureConfig.to_dict()``."""
    return transform_features(inputs, FeatureConfig.from_dict(custom_config["features"]))
