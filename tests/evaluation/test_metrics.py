"""The numpy AUC (evaluation/metrics.py) that the baselines and the synthetic-data tests score with."""

import pytest

from recsys.evaluation.metrics import auc


def test_auc_golden_values():
    assert auc([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4]) == 1.0
    assert auc([1, 1, 0, 0], [0.1, 0.2, 0.3, 0.4]) == 0.0
    assert auc([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5]) == 0.5  # all tied: chance
    # pairs (pos .2, neg .2) tie = 1/2, (pos .9, neg .2) = 1 -> 1.5 / 2
    assert auc([0, 1, 1], [0.2, 0.2, 0.9]) == 0.75


def test_gauc_golden_values():
    from recsys.evaluation.metrics import gauc

    # user a (4 impressions): pos 0.9, 0.2 vs neg 0.5, 0.1 -> 3 of 4 pairs ordered = 0.75;
    # user b (2): pos 0.3 > neg 0.2 -> 1.0; user c holds one class: left out.
    # GAUC = (4 * 0.75 + 2 * 1.0) / 6 = 5/6.
    labels = [1, 1, 0, 0, 1, 0, 1, 1]
    scores = [0.9, 0.2, 0.5, 0.1, 0.3, 0.2, 0.7, 0.1]
    groups = ["a", "a", "a", "a", "b", "b", "c", "c"]
    assert abs(gauc(labels, scores, groups) - 5 / 6) < 1e-12
    with pytest.raises(ValueError, match="no group holds both labels"):
        gauc([1, 1], [0.1, 0.2], ["a", "b"])
