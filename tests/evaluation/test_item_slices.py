"""Per-user metrics on item slices, and metrics undefined on a slice (``eval_result``).

TFMA groups a user's examples before slicing, so a per-user metric on an item slice is computed
over each touching user's whole list. The golden example makes the in-slice value differ from the
whole-list one, shows TFMA reports the whole-list value under the slice's name, and checks that the
report withholds it ("n/a" with why) while keeping it on user-side slices; and that no NaN reaches
the report, its HTML or its JSON.
"""

import html
import json
import re

import numpy as np
import pytest
import tensorflow_model_analysis as tfma

from recsys.evaluation import eval_result, report, run_summary
from recsys.evaluation.gauc import auc
from recsys.features import CountSlice, Feature, FeatureConfig
from tests import tfma_tiny

FEATURES = FeatureConfig(
    dataset="tiny_item_slices",
    features=(Feature("user_id", "categorical", side="user"),
              Feature("user_gender", "categorical", side="user", slice=True),
              Feature("item_id", "categorical", side="item")),
    cross_slices=(("user_gender", "item_popularity"),),
    count_slices=(CountSlice("item_popularity", "item_id", ("head", "tail")),))

# (user, gender, item bucket, label, prediction). By hand, per user (positive, negative) pairs:
#   A whole list: pos {.6, .9} vs neg {.7, .2}: 3 of 4 right -> .75; head only: .6 < .7 -> 0;
#     tail only: .9 > .2 -> 1
#   B whole list: pos {.8, .5} vs neg {.3, .4}: 4 of 4 -> 1; head: 1; tail: 1
#   C one positive only: no AUC anywhere (and the only user of gender X)
# GAUC overall = (4 * .75 + 4 * 1) / 8 = .875; within head = (2 * 0 + 2 * 1) / 4 = .5.
EXAMPLES = [("A", "F", "head", 1, .6), ("A", "F", "head", 0, .7), ("A", "F", "tail", 1, .9),
            ("A", "F", "tail", 0, .2), ("B", "M", "head", 1, .8), ("B", "M", "head", 0, .3),
            ("B", "M", "tail", 1, .5), ("B", "M", "tail", 0, .4), ("C", "X", "head", 1, .5)]
ROWS = [dict(user_id=u, user_gender=g, item_id=f"{b}{i}", item_popularity=b, label=y, probability=p,
             baseline=0.5) for i, (u, g, b, y, p) in enumerate(EXAMPLES)]
GAUC_OVERALL, GAUC_IN_HEAD = .875, .5


def _gauc(rows) -> float:
    by_user: dict[str, tuple[list, list]] = {}
    for r in rows:
        by_user.setdefault(r["user_id"], ([], []))[0].append(r["label"])
        by_user[r["user_id"]][1].append(r["probability"])
    pairs = [(len(y), auc(y, p)) for y, p in by_user.values()]
    return sum(n * a for n, a in pairs if a is not None) / sum(n for n, a in pairs if a is not None)


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    return tfma_tiny.evaluate(str(tmp_path_factory.mktemp("item_slices")), ROWS, features=FEATURES)


def test_golden_in_slice_gauc_differs_from_what_tfma_reports_for_the_slice(evaluated):
    assert _gauc(ROWS) == GAUC_OVERALL
    assert _gauc([r for r in ROWS if r["item_popularity"] == "head"]) == GAUC_IN_HEAD
    raw = {key: m[""][""] for key, m in tfma.load_eval_result(evaluated, model_name="candidate").slicing_metrics}
    # TFMA: the whole lists of the users touching the slice, i.e. the overall value, mislabelled.
    assert raw[(("item_popularity", "head"),)]["gauc"]["doubleValue"] == pytest.approx(GAUC_OVERALL)
    assert raw[(("item_popularity", "head"),)]["total_documents"]["doubleValue"] == 9  # A, B, C lists
    assert raw[(("item_popularity", "head"),)]["example_count"]["doubleValue"] == 5


def test_per_user_metrics_are_withheld_on_item_slices_and_kept_on_user_slices(evaluated):
    evaluation = eval_result.load(evaluated)
    by_name = {s.slice: s for s in evaluation.slices}
    [cross] = [n for n in by_name if set(n.split(" & ")) == {"user_gender=F", "item_popularity=head"}]
    assert by_name["Overall"].metrics["gauc"] == pytest.approx(GAUC_OVERALL)
    assert by_name["user_gender=F"].metrics["gauc"] == pytest.approx(.75)
    assert by_name["user_gender=M"].metrics["gauc"] == pytest.approx(1.0)
    per_user = ("gauc", "gauc_users", "ndcg@5", "ndcg@10", "min_label_position", "total_queries",
                "total_documents")
    for name in ("item_popularity=head", "item_popularity=tail", cross):
        s = by_name[name]
        for metric in per_user:
            assert metric not in s.metrics and metric not in s.diffs, (name, metric)
            assert s.undefined[metric] == eval_result.PER_USER_OFF_SLICE, (name, metric)
        # Example-level metrics stay: head AUC over its 5 examples, pos {.6, .8, .5} vs neg {.7, .3}
        # -> 4 of 6 pairs right.
        assert "example_count" in s.metrics
    assert by_name["item_popularity=head"].metrics["auc"] == pytest.approx(4 / 6, abs=1e-3)
    for name in ("Overall", "user_gender=F", "user_gender=M"):
        assert not set(per_user) & set(by_name[name].undefined), name


def test_no_nan_reaches_the_report_each_undefined_metric_says_why(evaluated):
    evaluation = eval_result.load(evaluated)
    x = {s.slice: s for s in evaluation.slices}["user_gender=X"]  # one example, one class
    assert x.undefined["gauc"] == "no user in this slice has both a positive and a negative example"
    for s in evaluation.slices:
        assert all(np.isfinite(v) for v in [*s.metrics.values(), *s.diffs.values()]), s.slice
    text = report.render_html(evaluation)
    assert not re.search(r'>\s*nan\s*<|data-value="nan"', text, re.IGNORECASE)
    assert 'data-undefined="no user in this slice has both a positive and a negative example"' in text
    assert f'data-undefined="{html.escape(eval_result.PER_USER_OFF_SLICE)}"' in text
    table = report.terminal_table(evaluation)
    assert "nan" not in table.lower() and "n/a" in table
    assert f"n/a: {eval_result.PER_USER_OFF_SLICE}" in table


def test_json_summary_names_undefined_overall_metrics_instead_of_nan(tmp_path):
    # Every user one class only: overall GAUC is undefined (TFMA writes NaN).
    rows = [dict(r, label=int(r["user_id"] != "A")) for r in ROWS]
    evaluated = tfma_tiny.evaluate(str(tmp_path), rows, features=FEATURES)
    metrics, undefined = run_summary.overall_metrics(evaluated)
    assert "gauc" not in metrics and undefined["gauc"].startswith("no user in this slice has both")
    json.dumps({"metrics": metrics, "metrics_undefined": undefined}, allow_nan=False)  # no NaN


def test_withholding_is_decided_by_whole_lists_not_by_slice_names():
    per_user = {"gauc": .7, "ndcg@10": .5, "total_documents": 9.0, "total_queries": 3.0}
    partial = eval_result.withhold_per_user_off_slice(eval_result.SliceMetrics(
        "item_category=c01", {"example_count": 5.0, "auc": .6, **per_user}, {"gauc": .1, "auc": .2}))
    assert partial.metrics == {"example_count": 5.0, "auc": .6} and partial.diffs == {"auc": .2}
    assert set(partial.undefined) == {"gauc", "ndcg@10", "total_documents", "total_queries"}
    whole = eval_result.SliceMetrics("item_category=c01", {"example_count": 9.0, **per_user}, {})
    assert eval_result.withhold_per_user_off_slice(whole) == whole  # every list lies in the slice
