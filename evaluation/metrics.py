"""Offline metrics in plain numpy, for baselines and tests that run outside TFMA."""

from __future__ import annotations

import numpy as np


def auc(labels, scores) -> float:
    """Rank-based ROC AUC (Mann-Whitney U); tied scores get their average rank."""
    y = np.asarray(labels, bool)
    s = np.asarray(scores, float)
    order = np.argsort(s, kind="mergesort")
    _, inverse, counts = np.unique(s[order], return_inverse=True, return_counts=True)
    avg_rank = np.cumsum(counts) - (counts - 1) / 2.0  # 1-based average rank of each tie group
    ranks = np.empty(s.size)
    ranks[order] = avg_rank[inverse]
    pos, neg = y.sum(), (~y).sum()
    return float((ranks[y].sum() - pos * (pos + 1) / 2.0) / (pos * neg))
