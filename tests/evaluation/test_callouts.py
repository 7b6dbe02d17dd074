"""What the report calls out: a difference only when its 95% interval excludes 0 (golden values on
hand-made slices), and the intervals read back from a real TFMA result."""

import pytest

from recsys.evaluation import callouts, eval_result, report
from recsys.evaluation.eval_result import Evaluation, SliceMetrics


def _evaluation(with_intervals: bool = True) -> Evaluation:
    def s(name, n, auc, iv, diff, diff_iv):
        return SliceMetrics(name, {"example_count": n, "auc": auc}, {"auc": diff}, {},
                            {"auc": iv} if with_intervals else {},
                            {"auc": diff_iv} if with_intervals else {})

    slices = [
        s("Overall", 24000, .70, (.69, .71), .02, (.01, .03)),  # better than the baseline
        # Above overall: its interval minus overall's value is (.02, .08), excluding 0. Worse than
        # the baseline, against overall's gain: a regression hidden in the average.
        s("user_activity=heavy", 8000, .75, (.72, .78), -.03, (-.05, -.01)),
        # Below overall by .02 but its interval (.60, .76) holds .70: noise. Its gain over the
        # baseline is significant but goes overall's way: not news.
        s("user_activity=light", 8000, .68, (.60, .76), .04, (.01, .07)),
        # Far below, its interval excluding overall, but small (50 examples): not judged.
        s("user_gender=X", 50, .40, (.20, .60), -.10, (-.30, .10)),
    ]
    return Evaluation(uri="", candidate="candidate", slices=slices, baseline={"auc": .68},
                      calibration=[], verdict=None)


def test_only_differences_whose_interval_excludes_zero_are_called_out():
    found = callouts.called_out(_evaluation(), "auc")
    assert [(d.slice, d.against) for d in found] == [
        ("Overall", "baseline"), ("user_activity=heavy", "baseline"), ("user_activity=heavy", "overall")]
    overall, heavy_vs_base, heavy = found
    assert overall.value == .02 and overall.interval == (.01, .03)
    assert heavy_vs_base.value == -.03
    assert heavy.value == pytest.approx(.05)
    assert heavy.interval == pytest.approx((.02, .08))
    by_slice = {d.slice: d for d in callouts.vs_overall(_evaluation(), "auc")}
    light, x = by_slice["user_activity=light"], by_slice["user_gender=X"]
    assert light.interval == pytest.approx((-.10, .06)) and not light.significant
    assert x.value == pytest.approx(-.30) and x.interval == pytest.approx((-.50, -.10))
    assert x.significant and callouts.small_slices(_evaluation()) == {"user_gender=X"}
    assert heavy.text() == ("user_activity=heavy: auc +0.0500 vs overall "
                            "(95% CI +0.0200 to +0.0800)")


def test_without_intervals_nothing_is_called_out_and_the_report_says_why():
    evaluation = _evaluation(with_intervals=False)
    assert callouts.called_out(evaluation, "auc") == []
    [line] = report.callout_lines(evaluation)
    assert "eval.confidence_intervals = off" in line
    lines = report.callout_lines(_evaluation())
    assert lines[0].startswith("1 of 2 slices differ from overall on auc")
    assert lines[0].endswith("1 small slices (under 100 examples or 1% of them) are not judged")


@pytest.mark.parametrize("examples, small", [(50, True), (99, True), (200, True), (239, True),
                                             (240, False), (8000, False)])
def test_small_slices_are_under_100_examples_or_1_percent(examples, small):
    s = SliceMetrics("x", {"example_count": examples}, {}, {})
    assert callouts.is_small(s, 24000) is small  # 1% of 24,000 = 240


def test_intervals_are_read_from_a_real_tfma_result(tfma_tiny_intervals):
    """TFMA's jackknife: every rate metric of every slice has an interval around its value, the
    diffs against the baseline have theirs, and the counts none."""
    evaluation = eval_result.load(tfma_tiny_intervals)
    overall = evaluation.slices[0]
    for metric in ("auc", "auc_precision_recall", "gauc", "ndcg@10", "calibration"):
        lo, hi = overall.intervals[metric]
        assert lo < hi, metric
        # Jackknife intervals are centred on the resamples' mean, not the point estimate; on these
        # 156 examples the point still lies inside.
        assert lo <= overall.metrics[metric] <= hi, metric
    assert set(overall.diff_intervals) >= {"auc", "gauc", "calibration"}
    assert "example_count" not in overall.intervals and "total_queries" not in overall.intervals
    # Each slice's own, wider interval: fewer examples.
    width = {s.slice: s.intervals["auc"][1] - s.intervals["auc"][0] for s in evaluation.slices
             if "auc" in s.intervals}  # not user_gender=X: one example (test_interval_error.py)
    assert width["user_activity=light"] > width["Overall"]
    assert evaluation.baseline_intervals["auc"][0] < evaluation.baseline["auc"]
