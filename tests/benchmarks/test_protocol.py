"""The benchmarks' protocol: no eval interaction reaches a training example's history features,
and the validation carve is the latest part of the training split by time."""

import os

import numpy as np
import pytest

from benchmarks.protocol import (SPLIT_OVERRIDES, carve_validation, eval_pairs_in_training_histories,
                                 history_keys, validation_cutoff)
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
