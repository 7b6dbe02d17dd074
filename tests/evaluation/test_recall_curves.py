"""The retriever's Recall@K in the report is a curve: several K from one top-K list, drawn as
lines; a file with a single K is drawn as bars, not as a lone dot."""

import numpy as np
import pytest

from recsys.evaluation import report_plots, retrieval_metrics


def test_recall_is_computed_at_several_k_from_one_list():
    # Targets at ranks 5, 15, 30 and absent: by hand, hits within 10: 1 of 4; 20: 2; 50 and 100: 3.
    m = retrieval_metrics.summarize(np.array([5, 15, 30, 0]))
    assert {k: v for k, v in m.items() if k.startswith("recall@")} == {
        "recall@10": .25, "recall@20": .5, "recall@50": .75, "recall@100": .75}


def _retrieval(ks) -> dict:
    def recalls(scale):
        return {f"recall@{k}": scale * k / 100 for k in ks}

    return {"overall": {"count": 40, **recalls(.5)}, "slices": {"user_activity:light": recalls(.4)},
            "baseline": {"overall": recalls(.3), "slices": {"user_activity:light": recalls(.2)}}}


def test_several_k_draw_one_line_per_system_per_panel():
    fig = report_plots.recall_curves_figure(_retrieval(retrieval_metrics.RECALL_KS))
    overall, light = fig.axes[:2]
    assert overall.get_title() == "Overall (n=40)" and light.get_title() == "user_activity:light"
    towers, popularity = overall.lines
    assert list(towers.get_xdata()) == [10, 20, 50, 100]
    assert list(towers.get_ydata()) == pytest.approx([.05, .1, .25, .5])
    assert list(popularity.get_ydata()) == pytest.approx([.03, .06, .15, .3])
    assert not overall.patches


def test_a_single_k_is_drawn_as_bars():
    fig = report_plots.recall_curves_figure(_retrieval([100]))
    overall = fig.axes[0]
    assert not overall.lines
    assert [p.get_height() for p in overall.patches] == pytest.approx([.5, .3])
    assert [t.get_text() for t in overall.get_xticklabels()] == ["two towers", "popularity"]
    assert overall.get_xlabel() == "K = 100"
    assert report_plots.recall_curves_figure({"overall": {"mrr": .1}}) is None
