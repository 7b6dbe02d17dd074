"""RetrievalEvaluator: a custom TFX component around ``recsys.evaluation.retrieval``: evaluates the
exported retriever on the full catalogue, writes ``retrieval_metrics.json`` + TFMA records, and
blesses it only above the configured thresholds (the Pusher checks ``blessed``)."""

import json
import os

# No `from __future__ import annotations` here: the TFX component decorator reads real types.

from tfx import v1 as tfx
from tfx.types import standard_artifacts

from recsys import jsonio
from recsys.config import RetrievalEvalConfig
from recsys.evaluation.retrieval import METRICS_FILE, evaluate, write_tfma
from recsys.features import FeatureConfig


@tfx.dsl.components.component
def RetrievalEvaluator(
        examples: tfx.dsl.components.InputArtifact[standard_artifacts.Examples],
        model: tfx.dsl.components.InputArtifact[standard_artifacts.Model],
        evaluation: tfx.dsl.components.OutputArtifact[standard_artifacts.ModelEvaluation],
        blessing: tfx.dsl.components.OutputArtifact[standard_artifacts.ModelBlessing],
        config: tfx.dsl.components.Parameter[str]):
    """``config``: JSON ``{"features": FeatureConfig.to_dict(), "gate": RetrievalEvalConfig}``."""
    import tensorflow as tf
    from absl import logging
    from tfx.utils import path_utils

    cc = json.loads(config)
    features = FeatureConfig.from_dict(cc["features"])
    gate = RetrievalEvalConfig(**cc["gate"])
    model_dir = path_utils.serving_model_path(model.uri)
    result = evaluate(examples.uri, model_dir, features, gate)
    with tf.io.gfile.GFile(os.path.join(evaluation.uri, METRICS_FILE), "w") as fh:
        fh.write(jsonio.dumps(result, indent=2))  # null, never a bare NaN
    write_tfma(result, evaluation.uri, model_dir, examples.uri)
    blessed = result["blessed"]
    with tf.io.gfile.GFile(os.path.join(blessing.uri, "BLESSED" if blessed else "NOT_BLESSED"), "w") as fh:
        fh.write("")
    blessing.set_int_custom_property("blessed", int(blessed))
    blessing.set_string_custom_property("current_model", model.uri)
    logging.info("retrieval evaluation: %s", json.dumps({"overall": result["overall"],
                                                          "baseline": result["baseline"]["overall"],
                                                          "failures": result["failures"]}))
