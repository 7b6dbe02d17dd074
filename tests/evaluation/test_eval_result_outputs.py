"""A multi-task ranker's evaluation reads back with the CTR output under the plain metric names
and the other heads prefixed by their output, so nothing downstream mistakes one head for another."""

from recsys.evaluation.eval_result import flatten, _merged_outputs


def _v(x):
    return {"doubleValue": x}


def test_ctr_output_keeps_plain_names_and_other_heads_are_prefixed():
    by_output = {
        "ctcvr": {"": {"auc": _v(0.8), "mean_label": _v(0.02)}},
        "probability": {"": {"auc": _v(0.7), "example_count": _v(100.0)}, "topK:5": {"ndcg": _v(0.5)}},
        "purchase_probability": {"": {"auc": _v(0.6), "weighted_example_count": _v(12.0)}},
    }
    metrics = flatten(_merged_outputs(by_output)).metrics
    assert metrics == {"auc": 0.7, "example_count": 100.0, "ndcg@5": 0.5, "ctcvr/auc": 0.8,
                       "ctcvr/mean_label": 0.02, "purchase_probability/auc": 0.6,
                       "purchase_probability/weighted_example_count": 12.0}


def test_a_single_output_is_read_as_before():
    by_output = {"": {"": {"auc": _v(0.7)}}}
    assert flatten(_merged_outputs(by_output)).metrics == {"auc": 0.7}


def test_an_output_without_plots_or_metrics_reads_as_empty():
    # TFMA gives None where a run has no such plot (a regressor has no calibration histogram):
    # reading it back must not fail the run's summary (tests/pipeline/test_baseline_e2e.py).
    from recsys.evaluation.eval_result import _first_output

    assert _first_output(None) == {} and _merged_outputs(None) == {}
    assert _first_output({}) == {} and _merged_outputs({}) == {}


def test_a_threshold_reads_in_the_direction_the_gate_judges():
    """The verdict's words for the real gate: AUC may not fall more than ``max_auc_drop`` (a
    change >= -drop), RMSE may not rise more than ``max_rmse_rise`` (<= rise)."""
    from recsys.config import EvaluatorConfig
    from recsys.evaluation.eval_config import _auc_gate
    from recsys.evaluation.eval_result import _threshold_text

    gate = EvaluatorConfig(auc_lower_bound=0.6, max_auc_drop=0.01)
    [auc] = _auc_gate(gate).per_slice_thresholds
    assert _threshold_text(auc.threshold) == ">= 0.6 and absolute change >= -0.01 vs baseline"
    import tensorflow_model_analysis as tfma
    rmse = tfma.MetricThreshold(change_threshold=tfma.GenericChangeThreshold(
        direction=tfma.MetricDirection.LOWER_IS_BETTER, absolute={"value": 0.05}))
    assert _threshold_text(rmse) == "absolute change <= 0.05 vs baseline"
