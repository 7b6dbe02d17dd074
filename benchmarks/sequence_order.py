"""How much order a MovieLens history holds for a sequence encoder to use (issue 13: why SASRec and
GRU4Rec barely beat the mean pool on the next-item protocol).

  .venv/bin/python -m benchmarks.sequence_order --movielens ../shared/data/ml-100k

Per user, the leave-last-out test case is the last rating by time; its query's ``history`` is the
K ratings strictly before it (``data/movielens.py``). Reported: the share of a user's consecutive
ratings given in the same second (their order is only the reader's tie-break, movie id) or within
5 minutes; for the test cases, the minutes from the newest history item to the target, how many
distinct seconds the K history items span, and the minutes from the oldest of them to the target.
Recorded under ``order_signal`` in benchmarks/results/retrieval_sweep_ml100k.json.
"""

import argparse
import os
import statistics

import numpy as np

from benchmarks.machine import record, stamp
from recsys.config import REPO_ROOT

RESULTS = os.path.join(REPO_ROOT, "benchmarks", "results", "retrieval_sweep_ml100k.json")


def order_signal(users, timestamps, k: int = 20) -> dict:
    """``users``, ``timestamps`` (seconds): one entry per rating, any order."""
    users, timestamps = np.asarray(users), np.asarray(timestamps, dtype=np.int64)
    order = np.lexsort((timestamps, users))
    u, t = users[order], timestamps[order]
    same_user = u[1:] == u[:-1]
    gaps = (t[1:] - t[:-1])[same_user]
    newest, distinct, window = [], [], []
    for user_times in np.split(t, np.flatnonzero(~same_user) + 1):
        earlier = user_times[user_times < user_times[-1]][-k:]  # strictly earlier, as the history
        if not len(earlier):
            continue
        newest.append((user_times[-1] - earlier[-1]) / 60)
        distinct.append(len(np.unique(earlier)))
        window.append((user_times[-1] - earlier[0]) / 60)
    return {"k": k, "ratings": int(len(t)), "test_cases": len(newest),
            "consecutive_same_second": float(np.mean(gaps == 0)),
            "consecutive_within_5_minutes": float(np.mean(gaps <= 300)),
            "target_minutes_after_newest_history_item_median": statistics.median(newest),
            "target_within_5_minutes_of_newest_history_item": float(np.mean(np.array(newest) <= 5)),
            "history_distinct_seconds_median": statistics.median(distinct),
            "history_window_minutes_median": statistics.median(window)}


def main(argv=None):
    from recsys.data.movielens import read_movielens

    ap = argparse.ArgumentParser()
    ap.add_argument("--movielens", required=True)
    ap.add_argument("--k", type=int, default=20, help="history length (configs/features/movielens.toml)")
    args = ap.parse_args(argv)
    records, _ = read_movielens(args.movielens, history_length=0)
    users, times = zip(*((r["user_id"], r["timestamp"]) for r in records))
    signal = {**order_signal(np.array(users), np.array(times), args.k), **stamp()}
    record(RESULTS, {"order_signal": signal})
    print(signal)
    return signal


if __name__ == "__main__":
    main()
