"""TFX Trainer module of the ranker: ``run_fn`` reads ``fn_args`` and calls the training library
(``recsys.training.ranker``). Everything it needs arrives in ``fn_args.custom_config`` (the feature
config and the typed train config as JSON)."""

from __future__ import annotations

import os

# TFX imports this module by name in the Trainer's process: Keras 2 before TensorFlow.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import tensorflow as tf  # noqa: E402
import tensorflow_transform as tft  # noqa: E402

from recsys import jsonio  # noqa: E402
from recsys.config import DistributeConfig, TrainConfig, config_from_json  # noqa: E402
from recsys.features import FeatureConfig  # noqa: E402
from recsys.models import export  # noqa: E402
from recsys.training.comparability import comparability_record, write_record  # noqa: E402
from recsys.training.ranker import train_and_export  # noqa: E402


def run_fn(fn_args) -> None:
    """TFX Trainer entry point (GenericExecutor)."""
    cc = fn_args.custom_config
    features = FeatureConfig.from_dict(cc["features"])
    train = config_from_json(TrainConfig, cc["train"])
    result = train_and_export(
        train_files=fn_args.train_files, eval_files=fn_args.eval_files,
        transform_output=fn_args.transform_output, serving_model_dir=fn_args.serving_model_dir,
        features=features, train=train, log_dir=fn_args.model_run_dir,
        distribute=config_from_json(DistributeConfig, cc.get("distribute", {})),
        shuffle_labels=cc.get("testing", {}).get("shuffle_labels", False))
    with tf.io.gfile.GFile(os.path.join(fn_args.model_run_dir, "training_result.json"), "w") as fh:
        fh.write(jsonio.dumps(result, indent=2))  # null, never a bare NaN
    # What this model parses and predicts, so a later run's Resolver offers it as a baseline only
    # to candidates it can be compared with (components/baseline_resolver.py).
    raw_inputs = export.serving_feature_spec(tft.TFTransformOutput(fn_args.transform_output), features)
    write_record(fn_args.serving_model_dir, comparability_record(
        features, train.label_mode, raw_inputs, train.multitask.mode))
