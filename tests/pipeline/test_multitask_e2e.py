"""The pipeline with ``train.multitask.mode=esmm`` on tiny synthetic data: the Evaluator scores the
CTR, CVR (clicked impressions) and CTCVR heads and gates on CTR and CTCVR; the pushed ranker's
signatures serve all three outputs.

Marked ``e2e``: one small pipeline run (no retriever).
"""

import os

import numpy as np
import pytest
import tensorflow as tf

from recsys.config import load_config
from recsys.features import FeatureConfig
from recsys.models.export import (CTCVR_KEY, CVR_KEY, PREDICTION_KEYS, output_keys, raw_instances,
                                  serialize_examples)
from recsys.pipeline.local_runner import RunPaths, run
from tests.e2e_runs import IN_PROCESS_BEAM
from tests.synthetic_instances import RAW

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def esmm_run(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("multitask"))
    config = load_config(None, [f"pipeline.output_dir={out}", "data.num_events=8000",
                                "data.num_users=300", "data.num_items=150", "train.epochs=2",
                                "retrieval.enabled=false", "train.multitask.mode=esmm",
                                "eval.auc_lower_bound=0.5", *IN_PROCESS_BEAM])
    return config, run(config)


def test_evaluator_reports_every_head_and_blesses_on_both_gates(esmm_run):
    _, report = esmm_run
    assert report["components"]["Evaluator"] == "COMPLETE"
    m = report["metrics"]
    assert m["auc"] > 0.5 and m["ctcvr/auc"] > 0.5 and f"{CVR_KEY}/auc" in m
    # CVR over the clicked impressions only: weighted by the click, so its count is the clicks and
    # its mean label the purchases per click (the CTCVR's mean label over the CTR's).
    clicks = m["mean_label"] * m["example_count"]
    assert m[f"{CVR_KEY}/weighted_example_count"] == pytest.approx(clicks, abs=0.5)
    assert m[f"{CVR_KEY}/mean_label"] == pytest.approx(m["ctcvr/mean_label"] / m["mean_label"], rel=1e-3)
    assert report["blessed"] is True and len(report["pushed_versions"]) == 1


def test_pushed_signatures_serve_probability_purchase_probability_and_ctcvr(esmm_run):
    config, report = esmm_run
    path = os.path.join(RunPaths.from_config(config).serving_dir, report["pushed_versions"][0])
    model = tf.saved_model.load(path)
    spec = FeatureConfig.load(config.features_path).raw_feature_spec()
    default = model.signatures["serving_default"](examples=tf.constant(serialize_examples([RAW], spec)))
    raw = model.signatures["serving_raw"](**{k: tf.constant(v) for k, v in raw_instances([RAW], spec).items()})
    assert set(default) == set(raw) == set(output_keys("binary", "esmm"))
    for out in (default, raw):
        ctr, cvr = out[PREDICTION_KEYS["binary"]].numpy(), out[CVR_KEY].numpy()
        np.testing.assert_allclose(out[CTCVR_KEY].numpy(), ctr * cvr, rtol=1e-5)
        assert 0 < ctr[0] < 1 and 0 < cvr[0] < 1
    np.testing.assert_allclose(default[CTCVR_KEY].numpy(), raw[CTCVR_KEY].numpy(), rtol=1e-5)
