"""The TFMA EvalConfig is derived from the feature config: slices, per-user metrics, the gate."""

import pytest
import tensorflow_model_analysis as tfma

from recsys.evaluation.eval_config import eval_config
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


def _gate(cfg, metric):
    [config] = [m for spec in cfg.metrics_specs for m in spec.metrics if m.class_name == metric]
    [gate] = config.per_slice_thresholds
    return gate


def test_regression_is_scored_on_the_rating_without_binary_metrics():
    features = FeatureConfig.load(load_config(None, ["data.dataset=movielens"]).features_path)
    cfg = eval_config(features, EvaluatorConfig(), "regression")
    [spec] = cfg.model_specs
    assert spec.label_key == features.rating and spec.prediction_key == "rating"
    names = {m.class_name for s in cfg.metrics_specs for m in s.metrics}
    assert "RootMeanSquaredError" in names
    assert not names & {"AUC", "GAUC", "NDCG", "BinaryCrossentropy", "Calibration"}
    assert not any(s.query_key for s in cfg.metrics_specs)


def test_regression_gate_has_its_own_settings():
    """The RMSE gate reads max_rmse_rise and rmse_upper_bound, never the AUC settings."""
    features = FeatureConfig.load(load_config(None, ["data.dataset=movielens"]).features_path)
    gate = EvaluatorConfig(auc_lower_bound=0.9, max_auc_drop=0.5, max_rmse_rise=0.02,
                           rmse_upper_bound=1.1)
    rmse = _gate(eval_config(features, gate, "regression"), "RootMeanSquaredError")
    assert [tuple(s.feature_keys) for s in rmse.slicing_specs] == [()]
    change = rmse.threshold.change_threshold
    assert change.direction == tfma.MetricDirection.LOWER_IS_BETTER
    assert change.absolute.value == pytest.approx(0.02)
    assert rmse.threshold.value_threshold.upper_bound.value == pytest.approx(1.1)
    assert not rmse.threshold.value_threshold.HasField("lower_bound")
    # 0 (the default): no absolute bound, only the comparison with the baseline.
    unbounded = _gate(eval_config(features, EvaluatorConfig(), "regression"), "RootMeanSquaredError")
    assert not unbounded.threshold.HasField("value_threshold")
    assert unbounded.threshold.change_threshold.absolute.value == pytest.approx(0.01)


def test_regression_gate_keys_are_set_from_the_command_line():
    cfg = load_config(None, ["eval.max_rmse_rise=0.05", "eval.rmse_upper_bound=0.95"])
    assert (cfg.eval.max_rmse_rise, cfg.eval.rmse_upper_bound) == (0.05, 0.95)


@pytest.mark.parametrize("setting, method", [
    ("jackknife", tfma.ConfidenceIntervalOptions.JACKKNIFE),
    ("bootstrap", tfma.ConfidenceIntervalOptions.POISSON_BOOTSTRAP)])
def test_confidence_intervals_are_tfmas_and_off_by_default(setting, method):
    features = FeatureConfig.load(load_config().features_path)
    assert not eval_config(features, load_config().eval).options.compute_confidence_intervals.value
    options = eval_config(features, load_config(None, [f"eval.confidence_intervals={setting}"]).eval).options
    assert options.compute_confidence_intervals.value and options.confidence_intervals.method == method
    with pytest.raises(Exception, match="eval.confidence_intervals.*one of 'off', 'jackknife', 'bootstrap'"):
        load_config(None, ["eval.confidence_intervals=yes"])


def test_multitask_evaluates_three_heads_and_gates_on_ctr_and_ctcvr():
    features = FeatureConfig.load(load_config().features_path)
    cfg = eval_config(features, EvaluatorConfig(auc_lower_bound=0.55, max_auc_drop=0.02),
                      multitask="esmm")
    [spec] = cfg.model_specs
    assert dict(spec.label_keys) == {"probability": "label", "purchase_probability": "purchase",
                                     "ctcvr": "purchase"}
    assert dict(spec.prediction_keys) == {k: k for k in spec.label_keys}
    # CVR on clicked impressions only: the click label weighs its examples 0 or 1; the other two
    # heads are unweighted (every impression).
    assert dict(spec.example_weight_keys) == {"purchase_probability": "label"}
    by_output = {tuple(m.output_names): m for m in cfg.metrics_specs if not m.query_key}
    assert set(by_output) == {("probability",), ("purchase_probability",), ("ctcvr",)}

    def gate(output):
        [auc] = [m for m in by_output[(output,)].metrics if m.class_name == "AUC"]
        return [(t.threshold.value_threshold.lower_bound.value,
                 t.threshold.change_threshold.absolute.value,
                 [tuple(s.feature_keys) for s in t.slicing_specs]) for t in auc.per_slice_thresholds]

    assert gate("probability") == gate("ctcvr") == [(0.55, -0.02, [()])]
    assert gate("purchase_probability") == []  # reported, not gated
    [per_user] = [m for m in cfg.metrics_specs if m.query_key]
    assert list(per_user.output_names) == ["probability"]
    single = _config()[1]
    assert not single.model_specs[0].label_keys and single.model_specs[0].label_key == "label"


def test_multitask_without_a_conversion_label_is_refused():
    features = FeatureConfig.load(load_config(overrides=["data.dataset=movielens"]).features_path)
    with pytest.raises(ValueError, match="needs a conversion label"):
        eval_config(features, EvaluatorConfig(), multitask="mmoe")


@pytest.mark.parametrize("multitask", ["off", "esmm"])
def test_cold_start_slices_are_read_from_the_rankers_slice_signature(multitask):
    """``user_start`` / ``item_start`` are Transform outputs, not raw features: without the
    preprocessing function TFMA would find no such feature and silently report no cold slice."""
    from recsys.models.export import SLICE_SIGNATURE

    features = FeatureConfig.load(load_config().features_path)
    cfg = eval_config(features, EvaluatorConfig(), "binary", multitask)
    keys = [tuple(s.feature_keys) for s in cfg.slicing_specs]
    assert ("user_start",) in keys and ("item_start",) in keys
    assert [list(s.preprocessing_function_names) for s in cfg.model_specs] == [[SLICE_SIGNATURE]]


def test_overall_only_keeps_the_gate_and_the_metrics_and_drops_the_other_slices():
    """``eval.slices = "overall"`` (issue 14: TFMA's work is per example and slice): the same
    EvalConfig but for the slicing specs, so the gate (overall only) blesses the same model."""
    features = FeatureConfig.load(load_config().features_path)
    full = eval_config(features, EvaluatorConfig())
    fast = eval_config(features, EvaluatorConfig(slices="overall"))
    assert [tuple(s.feature_keys) for s in fast.slicing_specs] == [()]
    assert len(full.slicing_specs) > 1
    del full.slicing_specs[1:]
    assert fast == full
    assert load_config(None, ["eval.slices=overall"]).eval.slices == "overall"
    assert load_config().eval.slices == "all"


def test_slices_setting_is_checked():
    with pytest.raises(Exception, match="slices"):
        load_config(None, ["eval.slices=some"])
