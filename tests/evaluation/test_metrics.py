"""The numpy AUC (evaluation/metrics.py) that the baselines and the synthetic-data tests score with."""

from recsys.evaluation.metrics import auc


def test_auc_golden_values():
    assert auc([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4]) == 1.0
    assert auc([1, 1, 0, 0], [0.1, 0.2, 0.3, 0.4]) == 0.0
    assert auc([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5]) == 0.5  # all tied: chance
    # pairs (pos .2, neg .2) tie = 1/2, (pos .9, neg .2) = 1 -> 1.5 / 2
    assert auc([0, 1, 1], [0.2, 0.2, 0.9]) == 0.75
