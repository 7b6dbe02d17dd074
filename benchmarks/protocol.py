"""The benchmarks' evaluation protocol: train on the past, choose on its last part, report the future.

* **Split** (``SPLIT_OVERRIDES``): ``data.split=temporal``, the last ``data.eval_fraction`` (20%)
  of time is the eval split. Histories hold strictly earlier events, so every history of a
  training example holds training events only: no eval interaction reaches a training example's
  features (``eval_pairs_in_training_histories`` counts the ones that do; on MovieLens the hash
  split of (user, movie) leaks most eval pairs into later training histories, and a rating-aware
  history such as ``history_liked`` *is* the label).
* **Validation carve** (``carve_validation``): settings (epochs, L2, ...) are chosen on the last
  ``VALIDATION_FRACTION`` of the *training* split by time, fitting on the rest; the chosen setting
  is then refitted on the whole training split and the eval split is scored once. The carve is the
  temporal split applied again inside the training split, so it keeps the same guarantee.

  from benchmarks.protocol import SPLIT_OVERRIDES, carve_validation
  fit, validation = carve_validation(f"{examples}/Split-train/*", f"{work}/carve", timestamp_key)
"""

from __future__ import annotations

import glob
import os
from typing import Callable, Iterable, Mapping

import numpy as np

SPLIT_OVERRIDES = ("data.split=temporal",)  # --set overrides every benchmark pipeline run takes
VALIDATION_FRACTION = 0.2  # of the training split, the latest part by time


def validation_cutoff(timestamps: np.ndarray, fraction: float = VALIDATION_FRACTION) -> int:
    """The timestamp from which (inclusive) a training example is in the validation part: about
    the last ``fraction`` of the training examples by time. Examples of one second stay together,
    so a request's slate is never cut in two."""
    timestamps = np.asarray(timestamps)
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"validation fraction={fraction!r}; expected 0 < fraction < 1")
    if timestamps.size < 2:
        raise ValueError(f"validation carve of {timestamps.size} training examples; expected >= 2")
    return int(np.quantile(timestamps, 1.0 - fraction, method="higher"))


def _read(paths: list[str]) -> list[bytes]:
    import tensorflow as tf

    return list(tf.data.TFRecordDataset(paths, compression_type="GZIP").as_numpy_iterator())


def _int(example, key: str) -> int:
    values = example.features.feature[key].int64_list.value
    if len(values) != 1:
        raise ValueError(f"example field {key!r} = {list(values)}; expected one int64 timestamp")
    return int(values[0])


def carve_validation(train_pattern: str, out_dir: str, timestamp_key: str,
                     fraction: float = VALIDATION_FRACTION,
                     timestamp_of: Callable[[object], int] | None = None) -> tuple[str, str]:
    """Split the gzip tf.Examples matching ``train_pattern`` (raw, or Transform's output, whose
    ``raw__<timestamp_key>`` pass-through is read when present) by time into ``out_dir/fit`` and
    ``out_dir/validation``; returns the two file patterns. Deterministic: a re-run rewrites the
    same files. ``timestamp_of(example)``: the time of a Transform output that carries none (the
    MovieLens feature config has no time feature, so nothing passes the timestamp through);
    ``timestamps_by_pair`` builds one from the raw split."""
    import tensorflow as tf

    from recsys.features import raw_key

    paths = sorted(glob.glob(train_pattern))
    if not paths:
        raise FileNotFoundError(f"validation carve: no files match {train_pattern!r}")
    rows = _read(paths)
    parsed = [tf.train.Example.FromString(r) for r in rows]
    if timestamp_of is None:
        key = raw_key(timestamp_key) if raw_key(timestamp_key) in parsed[0].features.feature else timestamp_key
        ts = np.array([_int(e, key) for e in parsed])
    else:
        ts = np.array([timestamp_of(e) for e in parsed])
    cut = validation_cutoff(ts, fraction)
    out = {}
    for part, mask in (("fit", ts < cut), ("validation", ts >= cut)):
        os.makedirs(os.path.join(out_dir, part), exist_ok=True)
        path = os.path.join(out_dir, part, "data.tfrecord.gz")
        with tf.io.TFRecordWriter(path, "GZIP") as w:
            for r in (r for r, m in zip(rows, mask) if m):
                w.write(r)
        out[part] = path
    return out["fit"], out["validation"]


def timestamps_by_pair(raw_pattern: str, user_key: str, item_key: str,
                       timestamp_key: str = "timestamp") -> Callable[[object], int]:
    """``timestamp_of`` for ``carve_validation`` from the raw examples matching ``raw_pattern``:
    a transformed example's time is its raw (user, item)'s, read from the ``raw__`` pass-through
    ids. Only for logs with one event per (user, item), as MovieLens' ratings; a pair seen at two
    times is refused rather than guessed."""
    import tensorflow as tf

    from recsys.features import raw_key

    def ids(example, user, item) -> tuple:
        f = example.features.feature
        return tuple(f[k].bytes_list.value[0] if f[k].bytes_list.value else f[k].int64_list.value[0]
                     for k in (user, item))

    times: dict[tuple, int] = {}
    for r in _read(sorted(glob.glob(raw_pattern))):
        e = tf.train.Example.FromString(r)
        pair, t = ids(e, user_key, item_key), _int(e, timestamp_key)
        if times.setdefault(pair, t) != t:
            raise ValueError(f"(user, item) {pair!r} at {times[pair]} and {t}: timestamps_by_pair needs "
                             "one event per pair; carve on a timestamp feature instead")
    return lambda example: times[ids(example, raw_key(user_key), raw_key(item_key))]


def eval_pairs_in_training_histories(train: Iterable[Mapping], eval_: Iterable[Mapping], user_key: str,
                                     item_key: str, history_keys: Iterable[str],
                                     timestamp_key: str = "timestamp") -> set[tuple]:
    """The eval (user, item) interactions that reach a training example's history features
    (``history_keys``: the item-valued histories), as (user, item) pairs; empty = no leak.

    A history entry is accounted for when the same (user, item) has a training example strictly
    before the one whose history holds it; the synthetic log shows an item to a user again, so a
    pair in both splits is no leak by itself. An entry not accounted for whose pair is in the eval
    split can only have come from the eval split."""
    train = list(train)
    first: dict[tuple, int] = {}
    for r in train:
        pair = (r[user_key], r[item_key])
        first[pair] = min(first.get(pair, r[timestamp_key]), r[timestamp_key])
    unexplained = set()
    for r in train:
        for key in history_keys:
            for item in r.get(key, ()):
                pair = (r[user_key], item)
                if first.get(pair, r[timestamp_key]) >= r[timestamp_key]:
                    unexplained.add(pair)
    return {(r[user_key], r[item_key]) for r in eval_} & unexplained


def history_keys(features) -> tuple[str, ...]:
    """The features that hold the user's earlier items (``history``, ``history_liked``, ...):
    item-id sequences sharing the item vocabulary."""
    return tuple(f.name for f in features.features if f.kind == "sequence" and f.vocab_from == features.item_key)


def main():
    """``python -m benchmarks.protocol``: how many eval click pairs of the default synthetic log
    reach a training history under each split (hash: a stable hash of the example id, 20% eval,
    as ExampleGen's buckets; temporal: data/prepare.py's cut). Recorded under "split_leak" in
    benchmarks/results/ranking_synthetic.json."""
    import hashlib

    from benchmarks.machine import record, stamp
    from benchmarks.synthetic_headroom import RESULTS
    from recsys.data.synthetic import SyntheticConfig, generate, temporal_cutoff

    cfg = SyntheticConfig()
    recs = list(generate(cfg))
    cut = temporal_cutoff(cfg, 0.8)
    splits = {"hash": lambda r: int(hashlib.sha1(r["example_id"].encode()).hexdigest(), 16) % 20 < 4,
              "temporal": lambda r: r["timestamp"] >= cut}
    out = {}
    for name, is_eval in splits.items():
        train = [r for r in recs if not is_eval(r)]
        clicks = [r for r in recs if is_eval(r) and r["label"]]
        leaked = eval_pairs_in_training_histories(train, clicks, "user_id", "item_id", ["history"])
        pairs = {(r["user_id"], r["item_id"]) for r in clicks}
        out[name] = {"eval_click_pairs": len(pairs), "in_training_histories": len(leaked),
                     "share": len(leaked) / len(pairs)}
        print(name, out[name], flush=True)
    record(RESULTS, {"split_leak": {"results": out, **stamp()}})


if __name__ == "__main__":
    main()
