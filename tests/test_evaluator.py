"""The TFMA EvalConfig is derived from the feature config: slices, per-user metrics, the gate."""

from components.evaluator import eval_config
from recsys.config import EvaluatorConfig, load_config
from recsys.features import FeatureConfig


def _config(label_mode="binary"):
    features = FeatureConfig.load(load_config().features_path)
    return features, eval_config(features, EvaluatorConfig(), label_mode)


def test_slices_come_from_the_feature_config():
    features, cfg = _config()
    keys = [tuple(s.feature_keys) for s in cfg.slicing_specs]
    assert keys[0] == ()  # overall
    for name in ("user_gender", "user_region", "item_category", "user_activity", "item_popularity"):
        assert (name,) in keys
    assert ("user_gender", "item_category") in keys
    assert len(keys) == 1 + len(features.slice_features) + len(features.cross_slices)


def test_per_user_metrics_group_by_the_user_key():
    features, cfg = _config()
    overall, per_user = cfg.metrics_specs
    assert not overall.query_key
    assert {m.class_name for m in overall.metrics} >= {
        "ExampleCount", "AUC", "AUCPrecisionRecall", "BinaryCrossentropy", "Calibration",
        "CalibrationPlot", "MeanLabel", "MeanPrediction"}
    assert per_user.query_key == features.user_key
    assert {m.class_name for m in per_user.metrics} == {
        "NDCG", "MinLabelPosition", "UserQueryStatistics", "GAUC"}


def test_gate_is_on_the_overall_slice_only():
    _, cfg = _config()
    [auc] = [m for m in cfg.metrics_specs[0].metrics if m.class_name == "AUC"]
    [gate] = auc.per_slice_thresholds
    assert [tuple(s.feature_keys) for s in gate.slicing_specs] == [()]
    assert gate.threshold.value_threshold.lower_bound.value == 0.6
    assert gate.threshold.change_threshold.absolute.value == -0.01


def test_regression_has_no_per_user_binary_metrics():
    _, cfg = _config("regression")
    assert len(cfg.metrics_specs) == 1
