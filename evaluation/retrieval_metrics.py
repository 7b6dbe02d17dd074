"""Retrieval metrics over full-catalogue top-K lists, and the popularity baseline computed the same way.

Every held-out interaction is one test case: a query (the user's features at that time), one
target item, and the user's training items excluded from the candidates. Per case the target's
rank r in the returned list (0 = not returned) gives
  Recall@K = [0 < r <= K]   (one relevant item per case, so recall = hit rate)
  NDCG@K   = 1 / log2(r + 1) if 0 < r <= K
  MRR      = 1 / r           (over the returned list, i.e. MRR@top_k)
and each metric is the mean over cases (micro average: active users weigh more, as they do in
traffic). Coverage@K is the share of the catalogue that appears in at least one top-K list.
"""

from __future__ import annotations

from collections import Counter
from typing import Iterable, Sequence

import numpy as np

# Several K from the same top-K list (free: one rank per case), so the report draws Recall@K as a
# curve; 10 and 100 are the gate's.
RECALL_KS = (10, 20, 50, 100)
METRICS_FILE = "retrieval_metrics.json"  # what the RetrievalEvaluator writes; the report reads it


def target_ranks(top_ids: Sequence[Sequence[str]], targets: Sequence[str]) -> np.ndarray:
    """1-based rank of each target in its list; 0 when absent."""
    ranks = np.zeros(len(targets), np.int64)
    for i, (ids, target) in enumerate(zip(top_ids, targets)):
        for r, item in enumerate(ids, start=1):
            if item == target:
                ranks[i] = r
                break
    return ranks


def summarize(ranks: np.ndarray, ks: Iterable[int] = RECALL_KS, ndcg_k: int = 10) -> dict[str, float]:
    ranks = np.asarray(ranks)
    if len(ranks) == 0:
        return {"count": 0}
    hit = ranks > 0
    out: dict[str, float] = {"count": int(len(ranks))}
    for k in ks:
        out[f"recall@{k}"] = float(np.mean(hit & (ranks <= k)))
    gains = np.where(hit & (ranks <= ndcg_k), 1.0 / np.log2(np.maximum(ranks, 1) + 1.0), 0.0)
    out[f"ndcg@{ndcg_k}"] = float(np.mean(gains))
    out["mrr"] = float(np.mean(np.where(hit, 1.0 / np.maximum(ranks, 1), 0.0)))
    return out


def coverage(top_ids: Sequence[Sequence[str]], catalog_size: int, k: int) -> float:
    """Share of the catalogue recommended to at least one query in the first ``k`` slots."""
    seen = {item for ids in top_ids for item in list(ids)[:k] if item}
    return len(seen) / catalog_size if catalog_size else 0.0


def popularity_top_k(counts: Counter, catalog: Sequence[str], excluded: Sequence[set], k: int
                     ) -> list[list[str]]:
    """Most-interacted training items first (ties by id), skipping each query's exclusions."""
    order = sorted(catalog, key=lambda item: (-counts.get(item, 0), item))
    lists = []
    for ex in excluded:
        out = []
        for item in order:
            if item not in ex:
                out.append(item)
                if len(out) == k:
                    break
        lists.append(out)
    return lists


def evaluate_lists(top_ids: Sequence[Sequence[str]], targets: Sequence[str],
                   slices: dict[str, np.ndarray], catalog_size: int) -> dict:
    """``{"overall": {...}, "slices": {name: {...}}}`` for one system's lists.

    ``slices`` maps a slice name such as ``"user_activity:light"`` to a boolean mask over cases.
    """
    ranks = target_ranks(top_ids, targets)
    overall = summarize(ranks)
    for k in (10, 100):
        overall[f"coverage@{k}"] = coverage(top_ids, catalog_size, k)
    return {"overall": overall,
            "slices": {name: summarize(ranks[mask]) for name, mask in slices.items()}}
