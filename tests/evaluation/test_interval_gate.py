"""``eval.gate_on_interval``: the candidate is blessed only when the whole 95% interval of its
change against the baseline is on the better side of 0, decided by TFMA's own validator."""

import pytest
import tensorflow_model_analysis as tfma
from tensorflow_model_analysis.evaluators import metrics_validator
from tensorflow_model_analysis.metrics import metric_types
from tensorflow_model_analysis.utils import config_util

from recsys.config import ConfigError, EvaluatorConfig, load_config
from recsys.evaluation import interval_gate
from recsys.evaluation.eval_config import eval_config
from tests import tfma_tiny


def _t(mean: float, std_error: float) -> tfma.types.ValueWithTDistribution:
    return tfma.types.ValueWithTDistribution(sample_mean=mean, sample_standard_deviation=std_error,
                                             sample_degrees_of_freedom=19, unsampled_value=mean)


def test_pessimistic_bound_is_tfmas_95_percent_bound():
    # t(0.975, df=19) = 2.0930: 0.02 -/+ 0.01 * 2.0930
    assert interval_gate.pessimistic_bound(_t(.02, .01), lower_is_better=False) == pytest.approx(-.000930, abs=1e-6)
    assert interval_gate.pessimistic_bound(_t(.02, .01), lower_is_better=True) == pytest.approx(.040930, abs=1e-6)
    assert interval_gate.pessimistic_bound(.02, lower_is_better=False) is None  # intervals off


def _validate(auc_diff, slice_key=()) -> tfma.ValidationResult:
    """TFMA's validator on the Evaluator's config (candidate + baseline, as TFX fills it in) and
    one slice (overall unless given) whose AUC beats the baseline by ``auc_diff`` on the point
    estimate."""
    cfg = config_util.update_eval_config_with_defaults(
        eval_config(tfma_tiny.FEATURES, tfma_tiny.JACKKNIFE), has_baseline=True)
    key = metric_types.MetricKey(name="auc", model_name="candidate", example_weighted=False)
    base = key._replace(model_name="baseline")
    metrics = {key: .75, base: .75 - float(auc_diff), key.make_diff_key(): auc_diff,
               metric_types.MetricKey(name="example_count", model_name="candidate",
                                      example_weighted=False): 1000.0}
    [gate] = interval_gate._computations(metric="auc", eval_config=cfg,
                                         model_names=["candidate", "baseline"])
    metrics.update(gate.result(metrics))
    return metrics_validator.validate_metrics((slice_key, metrics), cfg)


def test_the_gate_refuses_a_gain_whose_interval_holds_zero():
    # +0.02 on the point estimate passes max_auc_drop; its interval (-0.0009, +0.0409) holds 0.
    result = _validate(_t(.02, .01))
    assert not result.validation_ok
    [failure] = result.metric_validations_per_slice[0].failures
    assert failure.metric_key.name == "auc_change_lower_bound" and failure.metric_key.is_diff
    assert failure.metric_value.double_value.value == pytest.approx(-.000930, abs=1e-6)
    # The same gain, measured four times as precisely: (+0.0148, +0.0252), blessed.
    assert _validate(_t(.02, .0025)).validation_ok


def test_a_slice_without_an_interval_refuses_only_when_it_is_the_overall_slice():
    """A tiny slice whose resamples miss a class gets no interval (a plain number). TFMA 0.47
    fails any slice *missing* a thresholded metric, even for an overall-only threshold: before
    the NaN, one such slice refused a +0.085 AUC improvement in a real run."""
    tiny = (("item_category", "c03"), ("user_gender", "U"))
    assert _validate(.2, tiny).validation_ok
    assert _validate(_t(.02, .01), tiny).validation_ok  # judged only on the overall slice
    refused = _validate(.2)  # overall without an interval: no evidence, refused
    assert not refused.validation_ok
    [failure] = refused.metric_validations_per_slice[0].failures
    assert failure.metric_key.name == "auc_change_lower_bound"
    assert failure.metric_value.double_value.value != failure.metric_value.double_value.value  # NaN


def test_the_gate_needs_intervals_and_is_off_by_default():
    assert EvaluatorConfig().gate_on_interval is False
    with pytest.raises(ConfigError, match="eval.gate_on_interval"):
        load_config(None, ["eval.gate_on_interval=true", "eval.confidence_intervals=off"])
    cfg = load_config(None, ["eval.gate_on_interval=true", "eval.confidence_intervals=bootstrap"])
    tfma_cfg = eval_config(tfma_tiny.FEATURES, cfg.eval)
    assert tfma_cfg.options.confidence_intervals.method == tfma.ConfidenceIntervalOptions.POISSON_BOOTSTRAP
    assert "IntervalGate" in {m.class_name for s in tfma_cfg.metrics_specs for m in s.metrics}


def test_tfma_computes_the_gate_metric_from_its_own_interval(tfma_tiny_intervals):
    """In a real TFMA run (jackknife, candidate + baseline), the gate metric is the lower bound of
    the interval TFMA wrote for the AUC change."""
    result = tfma.load_eval_result(tfma_tiny_intervals, model_name="candidate")
    overall = dict(result.slicing_metrics)[()][""][""]
    bound = overall["auc_change_lower_bound_diff"]["doubleValue"]
    assert bound == pytest.approx(overall["auc_diff"]["boundedValue"]["lowerBound"], rel=1e-9)
