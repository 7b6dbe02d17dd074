"""Frequency buckets of users and items (``[[count_slice]]`` in the feature config), for TFMA slices.

A model that is good on average can still fail cold users or long-tail items; slicing the
evaluation by user activity and item popularity shows it. The buckets need counts over the whole
log, which no single record knows, so ``data/prepare.py`` makes two passes: ``count`` over the
records, then ``annotate`` while writing. Both passes are streaming; memory is one counter per
distinct user/item.
"""

from __future__ import annotations

import collections
from typing import Any, Iterable, Iterator, Mapping

from recsys.features import CountSlice


def bucket_by_share(counts: Mapping[str, int], labels: tuple[str, ...]) -> dict[str, str]:
    """Key -> label, most frequent keys first, cut where the share of examples passes k/n.

    Ties in count are broken by the key, so the result does not depend on record order. A key is
    placed by the share of examples *before* it, so a single very frequent key can take a whole
    bucket and push the next bucket's start, but never leaves an earlier bucket empty.
    """
    total = sum(counts.values())
    n = len(labels)
    out: dict[str, str] = {}
    seen = 0
    for key, c in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        out[key] = labels[min(n - 1, seen * n // total)] if total else labels[-1]
        seen += c
    return out


def count(records: Iterable[Mapping[str, Any]], slices: tuple[CountSlice, ...]
          ) -> dict[str, dict[str, str]]:
    """One pass over ``records``: count slice name -> (key value -> bucket label)."""
    counters = {cs.name: collections.Counter() for cs in slices}
    for r in records:
        for cs in slices:
            counters[cs.name][str(r[cs.key])] += 1
    return {cs.name: bucket_by_share(counters[cs.name], cs.labels) for cs in slices}


def annotate(records: Iterable[dict[str, Any]], slices: tuple[CountSlice, ...],
             buckets: Mapping[str, Mapping[str, str]]) -> Iterator[dict[str, Any]]:
    """Adds each count slice's bucket label to every record (the second pass)."""
    for r in records:
        for cs in slices:
            r[cs.name] = buckets[cs.name][str(r[cs.key])]
        yield r
