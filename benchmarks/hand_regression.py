"""The hand-made logistic regression on the synthetic log: the bar a learned ranker must clear.

Its features are written knowing the hidden world (``data/synthetic.py``): per-item, per-user,
user x category and segment x category one-hots, the history's share of the item's category, a
per-user slope on log price, and freshness since the item was first seen in the log (not the
listing time: this is the regression of issue 12, kept as it was measured). Used by
``tests/data/test_synthetic.py`` (the world rewards learning) and ``benchmarks/synthetic_headroom``
(target: the best ranker >= this + 0.02 AUC). Hand-written, not a library model, because its
value is the hand-picked features; the fit is plain full-batch AdaGrad on the sparse logistic loss.
"""

from __future__ import annotations

import numpy as np


def _features(recs):
    """Causal features for a logistic regression: one-hot ids (item, user, user x category,
    age/gender segment x category) plus values (history share of the item's category,
    user x log price, freshness since the item was first seen). Returns indices, values, size."""
    vocab: dict[tuple, int] = {}
    item_cat: dict[str, str] = {}
    first_seen: dict[str, int] = {}
    idx = np.zeros((len(recs), 8), np.int64)
    val = np.ones((len(recs), 8))
    for j, r in enumerate(recs):
        item, cat, user = r["item_id"], r["item_category"], r["user_id"]
        item_cat[item] = cat
        age = r["timestamp"] - first_seen.setdefault(item, r["timestamp"])
        hist = r["history"]
        seg = (r["user_age"] // 15, r["user_gender"])
        keys = [("i", item), ("u", user), ("uc", user, cat), ("sc", seg, cat), ("share",),
                ("up", user), ("fresh",), ("bias",)]
        idx[j] = [vocab.setdefault(k, len(vocab)) for k in keys]
        val[j, 4] = sum(item_cat.get(h) == cat for h in hist) / len(hist) if hist else 0.0
        val[j, 5] = np.log(r["item_price"]) - 3.5
        val[j, 6] = np.exp(-age / (7 * 86_400))
    return idx, val, len(vocab)


def _fit_logistic(idx, val, y, size, iters=300, lr=0.1, l2=1e-4):
    """Full-batch AdaGrad on the sparse logistic loss with a little L2."""
    w = np.zeros(size)
    g2 = np.full(size, 1e-8)
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-(w[idx] * val).sum(1)))
        g = np.bincount(idx.ravel(), ((p - y)[:, None] * val).ravel(), minlength=size)
        g = 1000.0 * (g / y.size + l2 * w)
        g2 += g * g
        w -= lr * g / np.sqrt(g2)
    return w


def hand_regression_scores(recs: list[dict], train: np.ndarray, extra: tuple[str, ...] = ()
                           ) -> np.ndarray:
    """Logits for every record of ``recs`` (generator records in time order) from the regression
    fitted on the records where ``train`` is true. ``extra``: numeric record fields added as
    values (log of their ratio to their training mean), e.g. ``item_ctr`` of the log with item
    counters; the bar of issue 12 is the regression without them."""
    y = np.array([r["label"] for r in recs], float)
    idx, val, size = _features(recs)
    if extra:
        x = np.log(np.array([[r[k] for k in extra] for r in recs], float))
        idx = np.concatenate([idx, size + np.arange(len(extra))[None, :].repeat(len(recs), 0)], 1)
        val = np.concatenate([val, x - x[train].mean(0)], 1)
        size += len(extra)
    w = _fit_logistic(idx[train], val[train], y[train], size)
    return (w[idx] * val).sum(1)
