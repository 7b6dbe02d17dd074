"""TFX Trainer module of the two-tower retriever: ``run_fn`` reads ``fn_args`` and calls
``recsys.training.retriever``."""

from __future__ import annotations

import os

# TFX imports this module by name in the Trainer's process: Keras 2 before TensorFlow.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import tensorflow as tf  # noqa: E402

from recsys import jsonio  # noqa: E402
from recsys.config import DistributeConfig, RetrievalConfig, config_from_json  # noqa: E402
from recsys.features import FeatureConfig  # noqa: E402
from recsys.training.retriever import train_and_export  # noqa: E402


def run_fn(fn_args) -> None:
    """TFX Trainer entry point (GenericExecutor)."""
    cc = fn_args.custom_config
    features = FeatureConfig.from_dict(cc["features"])
    config = config_from_json(RetrievalConfig, cc["retrieval"])
    result = train_and_export(
        train_files=fn_args.train_files, eval_files=fn_args.eval_files,
        transform_output=fn_args.transform_output, serving_model_dir=fn_args.serving_model_dir,
        features=features, config=config,
        distribute=config_from_json(DistributeConfig, cc.get("distribute", {})))
    with tf.io.gfile.GFile(os.path.join(fn_args.model_run_dir, "training_result.json"), "w") as fh:
        fh.write(jsonio.dumps(result, indent=2))  # null, never a bare NaN
