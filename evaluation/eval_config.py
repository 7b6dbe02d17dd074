"""TFMA EvalConfig for the Evaluator, derived from the feature config and the gate settings.

Slices: overall, every feature marked ``slice = true``, every ``[[count_slice]]`` (user activity and
item popularity buckets), the cold-start slices and the config's ``cross_slices``. The cold-start
marks (``user_start`` / ``item_start``: cold = no training interaction) are Transform outputs, not
raw features: each ModelSpec names the ranker's ``evaluation_slices`` signature (those marks only)
as a preprocessing function, and TFMA slices on its outputs. A baseline exported before that
signature existed is no baseline (``training/comparability.py``: TFMA would fail calling it).
Metrics (binary label): example count, AUC, AUC-PR, logloss (binary cross-entropy), calibration
(mean prediction / mean label) and its plot, mean label/prediction; and per user (TFMA groups the
examples by ``query_key`` = the user key): NDCG@5/10 with the label as gain, the rank of the first
positive (MinLabelPosition), users/examples per user, and GAUC (``components/gauc.py``). TFMA
groups a user's examples before slicing, so on an item slice these would cover the users' whole
lists: ``eval_result`` shows them only on slices that hold whole lists (overall, user-side slices).
Gate: AUC must clear ``auc_lower_bound`` (value threshold) and must not drop more than
``max_auc_drop`` below the last blessed model (change threshold; the Resolver supplies that
baseline, the latest one comparable with the run (``components/baseline_resolver.py``); on the first
run, or after a switch of dataset or label mode, there is none, so only the value threshold applies).
A regression ranker (``label_mode = "regression"``) is gated on RMSE instead: at most
``max_rmse_rise`` above the baseline's and, with ``rmse_upper_bound`` > 0, at most that.
Multi-task (``train.multitask``): one ModelSpec, three outputs, a MetricsSpec per output. CTR
(``probability`` vs the click, all impressions) keeps every metric above; CTCVR (``ctcvr`` vs the
conversion, all impressions) and CVR (``purchase_probability`` vs the conversion) get the
classification metrics. CVR is judged on clicked impressions only, through the click label as
that output's example weight (0 or 1) rather than a slice on the click: a slice would cut every
output (and hold the CTR metrics of a one-class subset), while the weight confines only pCVR's
metrics to the clicks and keeps all three on the overall slice the gate reads. The gate
applies the AUC thresholds above to both CTR and CTCVR; CVR is reported, not gated (the clicked
subset is ~5x smaller, so its AUC is the noisiest, and ESMM trains pCVR only through CTCVR).
Intervals (``confidence_intervals``): TFMA's own jackknife or Poisson bootstrap, 95%, for every
metric and diff of every slice; with ``gate_on_interval`` the gate also needs the interval of the
change against the baseline wholly on the better side of 0 (``interval_gate.py``).
``slices = "overall"``: the overall slice only (the gate's slice, so the same blessing), for
iterations that do not need the per-slice report: TFMA's work is per (example, slice).
"""

from __future__ import annotations

import json

import tensorflow_model_analysis as tfma
from tensorflow_model_analysis.metrics.min_label_position import MIN_LABEL_POSITION_NAME
from tensorflow_model_analysis.metrics.ndcg import NDCG_NAME

from recsys.evaluation import gauc, query_statistics
from recsys.models.export import CTCVR_KEY, CVR_KEY, PREDICTION_KEYS, SLICE_SIGNATURE
from recsys.config import EvaluatorConfig
from recsys.features import FeatureConfig


def _overall(threshold: tfma.MetricThreshold) -> list:
    """Gate on the overall slice only: a plain ``threshold`` would apply to every slice, and a
    small slice's noisy AUC would then veto a model that is better overall."""
    return [tfma.PerSliceMetricThreshold(slicing_specs=[tfma.SlicingSpec()], threshold=threshold)]


NDCG_TOP_K = [5, 10]
# The metric names ``_per_user`` produces: computed over each user's whole list, so only
# meaningful on slices that hold whole lists (``eval_result.withhold_per_user_off_slice``).
# Counts (examples, users, list lengths): TFMA resamples them like any metric, but a resample's
# count is no uncertainty of the evaluation, so the report shows them without an interval.
COUNT_METRICS = frozenset({"example_count", gauc.GAUC_USERS_NAME, *query_statistics.NAMES})
PER_USER_METRICS = frozenset({NDCG_NAME, MIN_LABEL_POSITION_NAME, gauc.GAUC_NAME,
                              gauc.GAUC_USERS_NAME, *query_statistics.NAMES})


def _per_user(features: FeatureConfig, gain_key: str, intervals: bool) -> tfma.MetricsSpec:
    """Metrics over each user's list of examples, averaged over users (a ranker ranks per user).
    With intervals, ``interval_error.py`` keeps a one-user slice from stopping the Evaluator."""
    ndcg = json.dumps({"gain_key": gain_key, "top_k_list": NDCG_TOP_K})
    return tfma.MetricsSpec(query_key=features.user_key, metrics=[
        tfma.MetricConfig(class_name="NDCG", config=ndcg),
        tfma.MetricConfig(class_name="MinLabelPosition"),
        tfma.MetricConfig(class_name="UserQueryStatistics", module="recsys.evaluation.query_statistics"),
        tfma.MetricConfig(class_name="GAUC", module="recsys.evaluation.gauc")]
        + ([tfma.MetricConfig(class_name="QueryIntervalError", module="recsys.evaluation.interval_error")]
           if intervals else []))


CI_METHODS = {"jackknife": tfma.ConfidenceIntervalOptions.JACKKNIFE,
              "bootstrap": tfma.ConfidenceIntervalOptions.POISSON_BOOTSTRAP}


def _interval_gate(metric_class: str, lower_is_better: bool) -> tfma.MetricConfig:
    """The gated metric's interval against the baseline must lie wholly on the better side of 0
    (``interval_gate.py``): a change threshold, so, like ``max_auc_drop``, only with a baseline."""
    metric = tfma.metrics.AUC().name if metric_class == "AUC" else \
        tfma.metrics.RootMeanSquaredError().name
    direction = (tfma.MetricDirection.LOWER_IS_BETTER if lower_is_better
                 else tfma.MetricDirection.HIGHER_IS_BETTER)
    return tfma.MetricConfig(
        class_name="IntervalGate", module="recsys.evaluation.interval_gate",
        config=json.dumps({"metric": metric, "lower_is_better": lower_is_better}),
        per_slice_thresholds=_overall(tfma.MetricThreshold(change_threshold=tfma.GenericChangeThreshold(
            direction=direction, absolute={"value": 0.0}))))


def _options(gate: EvaluatorConfig) -> tfma.Options | None:
    """None (unset) when intervals are off: the EvalConfig stays what it was before they existed."""
    problems = gate.problems()
    if problems:
        raise ValueError("; ".join(problems))
    if gate.confidence_intervals == "off":
        return None
    return tfma.Options(compute_confidence_intervals={"value": True},
                        confidence_intervals=tfma.ConfidenceIntervalOptions(
                            method=CI_METHODS[gate.confidence_intervals]))


def _auc_gate(gate: EvaluatorConfig) -> tfma.MetricConfig:
    """AUC at least ``auc_lower_bound`` and at most ``max_auc_drop`` below the baseline's."""
    return tfma.MetricConfig(class_name="AUC", per_slice_thresholds=_overall(tfma.MetricThreshold(
        value_threshold=tfma.GenericValueThreshold(lower_bound={"value": gate.auc_lower_bound}),
        change_threshold=tfma.GenericChangeThreshold(
            direction=tfma.MetricDirection.HIGHER_IS_BETTER,
            absolute={"value": -gate.max_auc_drop}))))


# "BinaryCrossentropy" is the Keras metric TFMA wraps, not TFMA 0.47's native numpy
# "BinaryCrossEntropy": that one measured no cheaper and gives a wrong logloss with more than one
# bundle (README "Evaluator cost"): its merge_accumulators adds the first accumulator into itself
# (merging sums 1 and 3 gives 5), so one bundle counts twice. Same metric key either way.
CLASSIFICATION = ["AUCPrecisionRecall", "BinaryCrossentropy", "Calibration", "CalibrationPlot",
                  "MeanLabel", "MeanPrediction"]


def _multitask_specs(features: FeatureConfig, gate: EvaluatorConfig, metrics: list):
    """(ModelSpec, MetricsSpecs) of a multi-task ranker (module docstring): CTR and CTCVR over
    every impression, both gated; CVR weighted by the click label, so over clicked ones only."""
    ctr, conversion = PREDICTION_KEYS["binary"], features.conversion
    labels = {ctr: features.label, CVR_KEY: conversion, CTCVR_KEY: conversion}
    model_spec = tfma.ModelSpec(signature_name="serving_default", label_keys=labels,
                                prediction_keys={k: k for k in labels},
                                example_weight_keys={CVR_KEY: features.label},
                                preprocessing_function_names=[SLICE_SIGNATURE])
    plain = [tfma.MetricConfig(class_name=c) for c in CLASSIFICATION]
    specs = [tfma.MetricsSpec(output_names=[ctr], metrics=metrics),
             tfma.MetricsSpec(output_names=[CTCVR_KEY], metrics=[_auc_gate(gate)] + plain),
             # WeightedExampleCount: how many clicked impressions the CVR metrics cover.
             tfma.MetricsSpec(output_names=[CVR_KEY], metrics=[
                 tfma.MetricConfig(class_name="WeightedExampleCount"),
                 tfma.MetricConfig(class_name="AUC")] + plain)]
    per_user = _per_user(features, features.label, gate.confidence_intervals != "off")
    per_user.output_names.append(ctr)
    return model_spec, specs + [per_user]


def eval_config(features: FeatureConfig, gate: EvaluatorConfig, label_mode: str = "binary",
                multitask: str = "off") -> tfma.EvalConfig:
    label_key = features.label_key(label_mode)
    if multitask != "off":
        features.aux_label_key(label_mode, 0.0, multitask)  # checks: binary, a conversion label
    slicing = [tfma.SlicingSpec()]
    if gate.slices == "all":
        slicing += [tfma.SlicingSpec(feature_keys=[name]) for name in features.slice_features]
        slicing += [tfma.SlicingSpec(feature_keys=list(combo)) for combo in features.cross_slices]

    count = tfma.MetricConfig(class_name="ExampleCount", per_slice_thresholds=_overall(
        tfma.MetricThreshold(value_threshold=tfma.GenericValueThreshold(
            lower_bound={"value": gate.example_count_lower_bound}))))
    if label_mode == "binary":
        gated = _auc_gate(gate)
        others = CLASSIFICATION
    else:
        # RMSE gate: lower is better; the AUC bound is not meaningful for a rating regressor.
        value = (tfma.GenericValueThreshold(upper_bound={"value": gate.rmse_upper_bound})
                 if gate.rmse_upper_bound > 0 else None)
        gated = tfma.MetricConfig(class_name="RootMeanSquaredError", per_slice_thresholds=_overall(
            tfma.MetricThreshold(value_threshold=value, change_threshold=tfma.GenericChangeThreshold(
                direction=tfma.MetricDirection.LOWER_IS_BETTER,
                absolute={"value": gate.max_rmse_rise}))))
        others = ["MeanLabel", "MeanPrediction"]
    metrics = [count, gated] + [tfma.MetricConfig(class_name=c) for c in others]
    if gate.gate_on_interval:
        metrics.append(_interval_gate(gated.class_name, lower_is_better=label_mode != "binary"))
    if multitask != "off":
        model_spec, metrics_specs = _multitask_specs(features, gate, metrics)
        return tfma.EvalConfig(options=_options(gate), model_specs=[model_spec],
                               slicing_specs=slicing, metrics_specs=metrics_specs)
    return tfma.EvalConfig(
        options=_options(gate),
        model_specs=[tfma.ModelSpec(signature_name="serving_default", label_key=label_key,
                                    prediction_key=PREDICTION_KEYS[label_mode],
                                    preprocessing_function_names=[SLICE_SIGNATURE])],
        slicing_specs=slicing,
        metrics_specs=[tfma.MetricsSpec(metrics=metrics)]
        + ([_per_user(features, label_key, gate.confidence_intervals != "off")]
           if label_mode == "binary" else []))
