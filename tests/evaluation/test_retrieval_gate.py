"""The retrieval gate (``evaluation/retrieval.py: gate_failures``) on hand-made figures: a catalogue
not larger than K is refused, and Recall@100 must beat popularity by more than the minimum lift."""

from recsys.config import RetrievalEvalConfig
from recsys.evaluation.retrieval import GATE_K, gate_failures

DEFAULT = RetrievalEvalConfig()


def test_default_demands_a_lift_of_one_point():
    assert DEFAULT.min_lift_over_popularity == 0.01


def test_catalogue_not_larger_than_k_is_refused_even_with_perfect_recall():
    # The 40-rating data set of issue 11: 39 items, Recall@100 = 1.0 for model and popularity.
    perfect = {"recall@100": 1.0, "recall@10": 1.0}
    for size in (39, GATE_K):
        [failure] = gate_failures(perfect, {"recall@100": 0.5}, size, DEFAULT)
        assert failure.startswith(f"catalogue has {size} items, not more than K = 100")
    assert gate_failures(perfect, {"recall@100": 0.5}, GATE_K + 1, DEFAULT) == []


def test_a_tie_with_popularity_is_not_a_pass():
    [failure] = gate_failures({"recall@100": 0.34}, {"recall@100": 0.34}, 800, DEFAULT)
    assert failure.startswith("recall@100 lift over popularity = 0.0000 (model 0.3400 vs popularity 0.3400)")
    # Even with no minimum lift, equal is not better.
    assert gate_failures({"recall@100": 0.34}, {"recall@100": 0.34}, 800,
                         RetrievalEvalConfig(min_lift_over_popularity=0.0))


def test_lift_must_exceed_the_minimum():
    # 0.3450 - 0.3400 = 0.005 < 0.01: refused; 0.3900 - 0.3400 = 0.05: blessed.
    assert len(gate_failures({"recall@100": 0.345}, {"recall@100": 0.34}, 800, DEFAULT)) == 1
    assert gate_failures({"recall@100": 0.39}, {"recall@100": 0.34}, 800, DEFAULT) == []
    # -1 switches the lift off (tests that are not about it), not the catalogue check.
    off = RetrievalEvalConfig(min_lift_over_popularity=-1.0)
    assert gate_failures({"recall@100": 0.2}, {"recall@100": 0.3}, 800, off) == []


def test_lower_bounds_and_lift_failures_are_all_listed():
    gate = RetrievalEvalConfig(recall_at_100_lower_bound=0.5, recall_at_10_lower_bound=0.2)
    failures = gate_failures({"recall@100": 0.4, "recall@10": 0.1}, {"recall@100": 0.45}, 800, gate)
    assert failures[:2] == ["recall@100 = 0.4000 < lower bound 0.5", "recall@10 = 0.1000 < lower bound 0.2"]
    assert failures[2].startswith("recall@100 lift over popularity = -0.0500")
