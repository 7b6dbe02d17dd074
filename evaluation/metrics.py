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


def gauc(labels, scores, groups) -> float:
    """Impression-weighted mean of the per-group (per-user) AUC, the DIN paper's GAUC; groups
    holding one class only are left out (as ``evaluation/gauc.py`` does inside TFMA)."""
    y, s, g = np.asarray(labels, bool), np.asarray(scores, float), np.asarray(groups)
    order = np.argsort(g, kind="stable")
    _, starts = np.unique(g[order], return_index=True)
    total = weight = 0.0
    for idx in np.split(order, starts[1:]):
        if 0 < y[idx].sum() < idx.size:
            total += idx.size * auc(y[idx], s[idx])
            weight += idx.size
    if not weight:
        raise ValueError("gauc: no group holds both labels; expected at least one")
    return total / weight
