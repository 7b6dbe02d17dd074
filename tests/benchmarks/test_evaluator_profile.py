"""benchmarks/evaluator_profile.py: each variant changes the one part it names of the pipeline's
EvalConfig (the measured difference is that part's share), and ``pipeline`` changes nothing."""

import copy

import pytest

from benchmarks.evaluator_profile import ONE_PROCESS, VARIANTS
from recsys.config import EvaluatorConfig, load_config
from recsys.evaluation.eval_config import eval_config
from recsys.features import FeatureConfig


@pytest.fixture(scope="module")
def pipeline_config():
    return eval_config(FeatureConfig.load(load_config().features_path), EvaluatorConfig())


def _apply(name, cfg):
    edit, flags, baseline = VARIANTS[name]
    cfg = copy.deepcopy(cfg)
    if edit:
        edit(cfg)
    return cfg, flags, baseline


def _names(cfg):
    return {m.class_name for spec in cfg.metrics_specs for m in spec.metrics}


def test_the_pipeline_variant_is_the_pipelines_evaluator(pipeline_config):
    assert _apply("pipeline", pipeline_config) == (pipeline_config, [], False)
    cfg, flags, baseline = _apply("in_memory", pipeline_config)
    assert cfg == pipeline_config and flags == ONE_PROCESS and not baseline
    assert _apply("with_baseline", pipeline_config) == (pipeline_config, [], True)


def test_each_variant_removes_only_its_part(pipeline_config):
    overall, _, _ = _apply("overall_only", pipeline_config)
    assert [tuple(s.feature_keys) for s in overall.slicing_specs] == [()]
    assert overall.metrics_specs == pipeline_config.metrics_specs
    no_users, _, _ = _apply("no_per_user", pipeline_config)
    assert not any(s.query_key for s in no_users.metrics_specs)
    assert no_users.slicing_specs == pipeline_config.slicing_specs
    assert _names(pipeline_config) - _names(_apply("no_auc_family", pipeline_config)[0]) == {
        "AUC", "AUCPrecisionRecall"}
    assert _names(pipeline_config) - _names(_apply("no_calibration_plot", pipeline_config)[0]) == {
        "CalibrationPlot"}
    assert _names(_apply("count_only", pipeline_config)[0]) == {"ExampleCount"}
    no_pre, _, _ = _apply("no_preprocessing", pipeline_config)
    assert pipeline_config.model_specs[0].preprocessing_function_names
    assert not no_pre.model_specs[0].preprocessing_function_names
