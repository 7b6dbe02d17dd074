"""A real TFMA evaluation in seconds: the pipeline's EvalConfig on tiny examples that carry their
own predictions (TFMA's model-agnostic mode), a candidate and a baseline, so every report section
(slices, per-user metrics, diffs, calibration, validation) has TFMA-made numbers to check."""

import os

import numpy as np
import tensorflow_model_analysis as tfma

from recsys.evaluation.eval_config import eval_config
from recsys.config import EvaluatorConfig
from recsys.features import CountSlice, Feature, FeatureConfig
from tests.tiny import write_gz

FEATURES = FeatureConfig(
    dataset="tiny_eval",
    features=(Feature("user_id", "categorical", side="user"),
              Feature("user_gender", "categorical", side="user", slice=True),
              Feature("item_id", "categorical", side="item")),
    count_slices=(CountSlice("user_activity", "user_id", ("heavy", "light")),))


def rows(num_users: int = 24, seed: int = 0) -> list[dict]:
    """Users with 3..10 examples; the candidate ("probability") is informative, the baseline weak."""
    rng = np.random.default_rng(seed)
    out = []
    for u in range(num_users):
        n = 3 + u % 8
        for j in range(n):
            y = int(rng.random() < 0.4)
            out.append(dict(user_id=f"u{u:02d}", user_gender="FM"[u % 2], item_id=f"i{j}",
                            user_activity="heavy" if n >= 7 else "light", label=y,
                            probability=float(np.clip(0.3 + 0.3 * y + rng.normal(0, 0.2), .01, .99)),
                            baseline=float(np.clip(0.4 + 0.1 * y + rng.normal(0, 0.3), .01, .99))))
    return out


# A user alone in their slice with one example (``user_gender=X``): every jackknife / bootstrap
# resample that drops that example has no such slice, which made TFMA 0.47 stop the whole
# evaluation until ``evaluation/interval_error.py`` (the intervals' fixture carries this row).
LONE_USER = dict(user_id="u99", user_gender="X", item_id="i0", user_activity="light", label=1,
                 probability=0.7, baseline=0.5)


# Intervals off unless a test asks for them: TFMA's jackknife takes this evaluation from a few
# seconds to 54 s on 2 cores (160 s when they are busy: 20 resamples through its Beam graph,
# AUC's 10,000-threshold confusion matrices resampled in Python), and only the tests of the
# intervals need them (``conftest.tfma_tiny_intervals`` computes them once per session).
NO_INTERVALS = EvaluatorConfig(confidence_intervals="off")
# With the interval gate's metric too (its threshold, a change threshold, is dropped below).
JACKKNIFE = EvaluatorConfig(confidence_intervals="jackknife", gate_on_interval=True)


def config(gate: EvaluatorConfig = NO_INTERVALS, features: FeatureConfig = FEATURES) -> tfma.EvalConfig:
    """The pipeline's EvalConfig, its one model spec turned into candidate + baseline columns.

    Without change thresholds: TFMA refuses them unless the baseline is a loaded model (it then
    still computes every ``*_diff`` metric; the e2e gating test covers the change threshold).
    """
    cfg = eval_config(features, gate)
    for spec in cfg.metrics_specs:
        for metric in spec.metrics:
            for t in metric.per_slice_thresholds:
                t.threshold.ClearField("change_threshold")
    spec = cfg.model_specs[0]
    del cfg.model_specs[:]
    cfg.model_specs.add(name="candidate", label_key=spec.label_key, prediction_key=spec.prediction_key)
    cfg.model_specs.add(name="baseline", label_key=spec.label_key, prediction_key="baseline",
                        is_baseline=True)
    return cfg


def evaluate(out_dir: str, data: list[dict] | None = None,
             gate: EvaluatorConfig = NO_INTERVALS, features: FeatureConfig = FEATURES) -> str:
    """Runs TFMA on ``data`` (default ``rows()``); returns the output path."""
    os.makedirs(out_dir, exist_ok=True)
    path = write_gz(data if data is not None else rows(), os.path.join(out_dir, "examples.tfrecord.gz"))
    output = os.path.join(out_dir, "evaluation")
    tfma.run_model_analysis(eval_config=config(gate, features), data_location=path, output_path=output,
                            file_format="tfrecords")
    return output


