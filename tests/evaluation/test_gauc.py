"""GAUC (components/gauc.py) against a hand-computed value, alone and through TFMA's query grouping;
and the per-user query statistics (components/query_statistics.py) with a baseline model."""

import os

import numpy as np
import pytest
import tensorflow_model_analysis as tfma

from recsys.evaluation.gauc import auc
from tests.tiny import write_gz

# user: (labels, predictions). By hand, counting (positive, negative) pairs ranked right:
#   A: pos {.9, .3} vs neg {.8, .1}: .9>.8, .9>.1, .3<.8, .3>.1 -> 3/4 = 0.75   (n = 4)
#   B: pos {.2} vs neg {.6}: wrong                               -> 0/1 = 0      (n = 2)
#   C: positives only                                            -> no AUC, left out
#   D: pos {.5} vs neg {.5, .4}: a tie counts 1/2                -> 1.5/2 = 0.75 (n = 3)
# GAUC = (4 * 0.75 + 2 * 0 + 3 * 0.75) / (4 + 2 + 3) = 5.25 / 9
USERS = {"A": ([1, 0, 1, 0], [.9, .8, .3, .1]), "B": ([1, 0], [.2, .6]),
         "C": ([1, 1, 1], [.1, .2, .3]), "D": ([0, 1, 0], [.5, .5, .4])}
GAUC = 5.25 / 9


def test_per_user_auc_by_hand():
    assert auc(*USERS["A"]) == 0.75
    assert auc(*USERS["B"]) == 0.0
    assert auc(*USERS["C"]) is None
    assert auc(*USERS["D"]) == 0.75


def _overall(output_path, model_name=None):
    result = tfma.load_eval_result(output_path, model_name=model_name)
    [metrics] = [m for key, m in result.slicing_metrics if key == ()]
    return {k: v["doubleValue"] for k, v in metrics[""][""].items()}


def test_gauc_through_tfma_groups_by_user(tmp_path):
    rows = [dict(user_id=u, label=y, p=float(p), b=float(1 - p))
            for u, (labels, preds) in USERS.items() for y, p in zip(labels, preds)]
    data = write_gz(rows, os.path.join(tmp_path, "ex.tfrecord.gz"))
    config = tfma.EvalConfig(
        model_specs=[tfma.ModelSpec(name="candidate", label_key="label", prediction_key="p"),
                     tfma.ModelSpec(name="baseline", label_key="label", prediction_key="b",
                                    is_baseline=True)],
        slicing_specs=[tfma.SlicingSpec()],
        metrics_specs=[tfma.MetricsSpec(query_key="user_id", metrics=[
            tfma.MetricConfig(class_name="GAUC", module="recsys.evaluation.gauc"),
            tfma.MetricConfig(class_name="UserQueryStatistics", module="recsys.evaluation.query_statistics")])])
    out = os.path.join(tmp_path, "out")
    tfma.run_model_analysis(eval_config=config, data_location=data, output_path=out,
                            file_format="tfrecords")
    got = _overall(out, "candidate")
    assert got["gauc"] == pytest.approx(GAUC)
    assert got["gauc_users"] == 3
    # Baseline scores 1 - p: every user's AUC flips to 1 - AUC (ties stay ties).
    assert _overall(out, "baseline")["gauc"] == pytest.approx((4 * .25 + 2 * 1 + 3 * .25) / 9)
    # 4 users, 12 examples, 2..4 per user: counted per user, for each model (TFMA's own
    # QueryStatistics would count the 2 models as 2 documents and fail on the named models).
    assert (got["total_queries"], got["total_documents"], got["min_documents"],
            got["max_documents"]) == (4, 12, 2, 4)


def test_gauc_requires_a_query_key():
    from recsys.evaluation.gauc import GAUC as Metric

    with pytest.raises(ValueError, match="query_key"):
        Metric().computations(query_key="")


def test_auc_matches_the_rank_formula_on_random_data():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 200)
    p = rng.random(200).round(2)  # rounding makes ties
    pos, neg = p[y == 1], p[y == 0]
    # Mann-Whitney U from average ranks (ties averaged), an independent formula.
    from scipy.stats import rankdata

    r = rankdata(np.concatenate([pos, neg]))
    u = r[:len(pos)].sum() - len(pos) * (len(pos) + 1) / 2
    assert auc(y, p) == pytest.approx(u / (len(pos) * len(neg)))
