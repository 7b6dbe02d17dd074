"""The leave-last-out split (``data.split = "leave_last_out"``): the next-item protocol of
SASRec/BERT4Rec-style evaluation. Per user, the last interaction by time is the eval case and
everything before it trains; ``validation`` holds out the second-to-last interaction instead and
drops the last, so settings are chosen without ever looking at the test case.

Done when the data is written (``data/prepare.py``), as the temporal split is: ExampleGen then
reads ``train/`` and ``eval/`` as they are, and the ranker, the retriever and both evaluators see
the same split. Each example's ``history`` is already "strictly earlier" in the whole log, so the
eval case's query holds every earlier interaction, the held-out ones' included.

"Interaction" is what the retriever trains on (``FeatureConfig.interactions``): every example, or
the positives. A user's records from the held-out interaction on (later non-interactions: shown,
not clicked) go to eval with it; with ``validation``, records after it are dropped. A user with
fewer than two interactions up to the held-out one keeps its whole log in train.
Records must arrive in time order (both readers write them so; ties keep the reader's order).
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Callable, Iterable, Mapping


def is_interaction(interactions: str, label: str) -> Callable[[Mapping[str, Any]], bool]:
    """The feature config's notion of an interaction as a predicate on a record."""
    if interactions == "all":
        return lambda r: True
    return lambda r: bool(r[label])


class LeaveLastOut:
    """``split(record)`` -> "train" | "eval" | None (dropped), called on records in time order.

    Args:
      records: the same records, for a first counting pass (interactions per user).
      user_key: the user id field; interaction: ``is_interaction(...)``.
      validation: hold out the second-to-last interaction and drop the last.
    """

    def __init__(self, records: Iterable[Mapping[str, Any]], user_key: str,
                 interaction: Callable[[Mapping[str, Any]], bool], validation: bool = False):
        self.user_key, self.interaction = user_key, interaction
        self.skip = 1 if validation else 0
        self.total = Counter(r[user_key] for r in records if interaction(r))
        self.seen: Counter = Counter()

    def split(self, record: Mapping[str, Any]) -> str | None:
        user = record[self.user_key]
        held_out = self.total[user] - self.skip  # 1-based ordinal of the held-out interaction
        if held_out < 2:  # nothing to train on before it: the user's whole log trains
            return "train"
        if self.interaction(record):
            self.seen[user] += 1
        n = self.seen[user]  # interactions so far, this one included
        if n < held_out:
            return "train"
        return "eval" if n == held_out else None  # None: after it, with ``validation``
