"""Count slices: user-activity / item-popularity buckets from the feature config, written by
data/prepare.py as evaluation-only features (not model inputs)."""

import collections
import os

import pytest

from recsys.data.canonical import read_tfrecords
from recsys.data.count_slices import bucket_by_share, count
from recsys.data.prepare import data_root_for, prepare_data
from recsys.config import load_config
from recsys.features import CountSlice, FeatureConfig


def test_buckets_cut_by_share_of_examples():
    # 10 examples; a key goes by the share of examples *before* it: a 0/10 -> head,
    # b 5/10 -> torso (>= 1/3), c 8/10 and d 9/10 -> tail (>= 2/3). c and d tie: key order.
    got = bucket_by_share({"d": 1, "b": 3, "a": 5, "c": 1}, ("head", "torso", "tail"))
    assert got == {"a": "head", "b": "torso", "c": "tail", "d": "tail"}


def test_count_is_order_independent():
    cs = (CountSlice("item_popularity", "item_id"),)
    records = [{"item_id": i} for i in "aaabbcdde"]
    assert count(records, cs) == count(records[::-1], cs)


def test_count_slice_is_validated():
    base = {"dataset": "t", "feature": [{"name": "user_id", "kind": "categorical"},
                                       {"name": "item_id", "kind": "categorical"}]}
    with pytest.raises(ValueError, match="count_slice 'x': key = 'nope'"):
        FeatureConfig.from_dict({**base, "count_slice": [{"name": "x", "key": "nope"}]})
    with pytest.raises(ValueError, match="already a feature"):
        FeatureConfig.from_dict({**base, "count_slice": [{"name": "item_id", "key": "user_id"}]})
    with pytest.raises(ValueError, match="labels"):
        FeatureConfig.from_dict({**base, "count_slice": [{"name": "x", "key": "user_id",
                                                          "labels": ["only"]}]})


def test_count_slices_are_slices_but_not_model_features():
    features = FeatureConfig.load(load_config().features_path)
    assert {"user_activity", "item_popularity"} <= set(features.slice_features)
    assert "user_activity" not in features.raw_feature_spec(with_labels=True)  # never a model input


def test_prepare_writes_the_buckets_with_about_equal_example_shares(tmp_path):
    config = load_config(None, [f"pipeline.output_dir={tmp_path}", "data.num_events=3000",
                                "data.num_users=200", "data.num_items=150", "data.num_shards=2"])
    root = prepare_data(config)
    records = list(read_tfrecords(os.path.join(root, "data", "*")))
    for name, key, labels in [("user_activity", "user_id", ("heavy", "medium", "light")),
                              ("item_popularity", "item_id", ("head", "torso", "tail"))]:
        shares = collections.Counter(r[name][0] for r in records)
        assert set(shares) == set(labels)
        assert all(0.2 < shares[label] / len(records) < 0.45 for label in labels), shares
        by_key = collections.defaultdict(set)
        for r in records:
            by_key[r[key][0]].add(r[name][0])
        assert all(len(v) == 1 for v in by_key.values())  # one bucket per user / item
    # Heavy users have more examples than light ones.
    per_user = collections.Counter(r["user_id"][0] for r in records)
    bucket = {r["user_id"][0]: r["user_activity"][0] for r in records}
    assert min(per_user[u] for u in per_user if bucket[u] == "heavy") >= \
        max(per_user[u] for u in per_user if bucket[u] == "light")


def test_count_slice_definitions_key_the_data_directory(tmp_path):
    base = load_config(None, [f"pipeline.output_dir={tmp_path}"])
    plain = tmp_path / "features.toml"
    text = open(base.features_path).read()
    plain.write_text(text.split("[[count_slice]]")[0])
    other = load_config(None, [f"pipeline.output_dir={tmp_path}", f"data.features={plain}"])
    assert data_root_for(base) != data_root_for(other)
