"""The benchmarks' protocol: no eval interaction reaches a training example's history features,
and the validation carve is the latest part of the training split by time."""

import os

import numpy as np
import pytest

from benchmarks.protocol import (SPLIT_OVERRIDES, carve_validation, eval_pairs_in_training_histories,
                                 history_keys, timestamps_by_pair, validation_cutoff)
from recsys.config import load_config
from recsys.data.canonical import read_tfrecords, write_tfrecords
from recsys.data.prepare import prepare_data
from recsys.features import FeatureConfig


def _records(pattern, features):
    """read_tfrecords rows -> records with the user and item ids as scalars (histories: lists)."""
    ids = (features.user_key, features.item_key, features.timestamp_key)
    return [{**r, **{k: r[k][0] for k in ids}} for r in read_tfrecords(pattern)]


def _prepared(tmp_path, overrides):
    config = load_config(None, [f"pipeline.output_dir={tmp_path}", "data.num_shards=1",
                                *SPLIT_OVERRIDES, *overrides])
    features = FeatureConfig.load(config.features_path)
    root = prepare_data(config)
    keys = history_keys(features)
    return (_records(os.path.join(root, "train", "*"), features),
            _records(os.path.join(root, "eval", "*"), features),
            features, keys)


@pytest.mark.parametrize("dataset", ["synthetic", "movielens"])
def test_no_eval_interaction_in_any_training_history_under_the_benchmark_split(tmp_path, dataset):
    if dataset == "synthetic":
        overrides = ["data.num_events=6000", "data.num_users=100", "data.num_items=150"]
    else:
        from recsys.data import movielens_fixture

        source = movielens_fixture.write(str(tmp_path / "ml"), "ml-100k", num_users=60, num_movies=80)
        overrides = ["data.dataset=movielens", f"data.source={source}"]
    train, evals, features, keys = _prepared(tmp_path, overrides)
    assert set(keys) >= {"history"} and (dataset == "synthetic" or "history_liked" in keys)
    assert sum(len(r["history"]) for r in train) > 1000 and len(evals) > 500  # histories are full
    leaked = eval_pairs_in_training_histories(train, evals, features.user_key, features.item_key, keys)
    assert leaked == set()
    # The checker finds a leak where there is one: eval histories do hold training interactions.
    backwards = eval_pairs_in_training_histories(evals, train, features.user_key, features.item_key, keys)
    assert len(backwards) > 20


def test_validation_carve_is_the_latest_part_of_the_training_split(tmp_path):
    ts = [100] * 3 + list(range(101, 198))  # 100 examples; the first second holds three
    rows = [{"example_id": f"e{j}", "user_id": "u", "item_id": "i", "label": 0, "history": [],
             "timestamp": t} for j, t in enumerate(ts)]
    write_tfrecords(rows, str(tmp_path / "in"), num_shards=2)
    fit, validation = carve_validation(str(tmp_path / "in" / "data" / "*"), str(tmp_path / "carve"),
                                       "timestamp", fraction=0.2)
    fit_ts = [r["timestamp"][0] for r in read_tfrecords(fit)]
    val_ts = [r["timestamp"][0] for r in read_tfrecords(validation)]
    assert sorted(fit_ts + val_ts) == ts  # every example once
    # Sorted, index k >= 3 holds 98 + k. The 0.8 quantile sits at position 0.8 * 99 = 79.2;
    # "higher" takes index 80 = 178: the 20 examples 178..197 are the validation part.
    assert max(fit_ts) == 177 and min(val_ts) == 178 and len(val_ts) == 20
    assert validation_cutoff(np.array([5, 5, 5, 5]), 0.5) == 5  # one second is never cut in two
    with pytest.raises(ValueError, match="fraction=1.0; expected 0 < fraction < 1"):
        validation_cutoff(np.array(ts), 1.0)


def test_validation_carve_of_examples_without_time_reads_the_raw_pairs(tmp_path):
    # Transform's MovieLens output has no timestamp: its time is the raw (user, item)'s.
    raw = [{"example_id": f"e{j}", "user_id": f"u{j % 3}", "item_id": f"i{j}", "label": 0,
            "history": [], "timestamp": 1000 + j} for j in range(10)]
    write_tfrecords(raw, str(tmp_path / "raw"), num_shards=2)
    # The writer needs the common fields; their time runs backwards, so a carve that read it
    # instead of the raw pairs' would put examples 0 and 1 in validation.
    transformed = [{**r, "timestamp": -j, "raw__user_id": r["user_id"], "raw__item_id": r["item_id"],
                    "y": j} for j, r in enumerate(raw)]
    write_tfrecords(transformed, str(tmp_path / "xf"), num_shards=1)
    time_of = timestamps_by_pair(str(tmp_path / "raw" / "data" / "*"), "user_id", "item_id")
    fit, validation = carve_validation(str(tmp_path / "xf" / "data" / "*"), str(tmp_path / "carve"),
                                       "timestamp", fraction=0.2, timestamp_of=time_of)
    # 10 times 1000..1009: the 0.8 quantile at position 7.2, "higher" -> index 8 = 1008.
    assert sorted(r["y"][0] for r in read_tfrecords(validation)) == [8, 9]
    assert sorted(r["y"][0] for r in read_tfrecords(fit)) == list(range(8))
    write_tfrecords([{**raw[0], "timestamp": 5}], str(tmp_path / "raw2"), num_shards=1)
    with pytest.raises(ValueError, match="one event per pair"):
        timestamps_by_pair(str(tmp_path / "raw*" / "data" / "*"), "user_id", "item_id")
