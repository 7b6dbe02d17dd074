"""The feature configs in the repo load, agree with the curated schemas, and reject bad entries."""

import glob
import os

import pytest
import tensorflow_data_validation as tfdv

from recsys.config import CONFIG_DIR, load_config
from recsys.features import FeatureConfig

CONFIGS = sorted(glob.glob(os.path.join(CONFIG_DIR, "features", "*.toml")))
SCHEMA_TYPES = {"string": 1, "int64": 2, "float": 3}  # schema_pb2.FeatureType: BYTES, INT, FLOAT


@pytest.mark.parametrize("path", CONFIGS, ids=os.path.basename)
def test_every_feature_is_in_the_curated_schema_with_its_type(path):
    features = FeatureConfig.load(path)
    schema_file = os.path.join(CONFIG_DIR, "schemas", f"{features.dataset}.pbtxt")
    if not os.path.exists(schema_file):
        pytest.skip(f"no curated schema for {features.dataset} yet")
    schema = {f.name: f for f in tfdv.load_schema_text(schema_file).feature}
    for f in features.features:
        assert f.name in schema, f"{f.name} missing from {schema_file}"
        assert schema[f.name].type == SCHEMA_TYPES[f.dtype], f.name
    for key in features.label_keys:
        assert key in schema
    for cs in features.count_slices:  # written by data/prepare.py, read by TFMA only
        assert schema[cs.name].type == SCHEMA_TYPES["string"], cs.name
        assert schema[cs.name].presence.min_fraction == 1.0, cs.name


def _config(**overrides):
    base = {"dataset": "t", "feature": [{"name": "user_id", "kind": "categorical"},
                                       {"name": "item_id", "kind": "categorical"}]}
    base.update(overrides)
    return FeatureConfig.from_dict(base)


def test_unknown_feature_field_is_named():
    with pytest.raises(ValueError, match="embeding_dim"):
        _config(feature=[{"name": "user_id", "kind": "categorical", "embeding_dim": 8},
                         {"name": "item_id", "kind": "categorical"}])


def test_bad_kind_names_feature_field_and_choices():
    with pytest.raises(ValueError, match=r"feature 'item_id': field 'kind' = 'categoric'"):
        _config(feature=[{"name": "user_id", "kind": "categorical"},
                         {"name": "item_id", "kind": "categoric"}])


def test_duplicate_feature_rejected():
    with pytest.raises(ValueError, match="defined twice"):
        _config(feature=[{"name": "user_id", "kind": "categorical"}] * 2 + [{"name": "item_id", "kind": "categorical"}])


def test_cross_of_unknown_or_multi_valued_feature_rejected():
    with pytest.raises(ValueError, match="'nope' must be a single-valued feature"):
        _config(cross=[{"features": ["user_id", "nope"]}])
    ok = _config(cross=[{"features": ["user_id", "item_id"], "hash_buckets": 50}])
    assert ok.crosses[0].name == "cross_user_id_x_item_id" and ok.crosses[0].hash_buckets == 50


def test_round_trip_through_custom_config_json():
    import json

    for path in CONFIGS:
        cfg = FeatureConfig.load(path)
        assert FeatureConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg


def test_run_config_overrides_are_typed_and_checked():
    cfg = load_config(None, ["train.epochs=5", "train.deep_layers=64,32", "data.split=temporal"])
    assert cfg.train.epochs == 5 and cfg.train.deep_layers == (64, 32) and cfg.data.split == "temporal"
    with pytest.raises(ValueError, match=r"train.epochs: 'five'; expected an integer >= 1"):
        load_config(None, ["train.epochs=five"])
    with pytest.raises(ValueError, match="unknown key 'epoch'"):
        load_config(None, ["train.epoch=5"])


@pytest.mark.parametrize("kwargs,message", [
    (dict(kind="time", dtype="float"), r"'ts': field 'dtype' = 'float'; expected int64 unix seconds for a time feature"),
    (dict(kind="time", dtype="int64", slice=True), r"'ts': field 'slice' = True; expected false: a time feature is no slice"),
    (dict(kind="sequence", max_length=3, slice=True), r"'ts': field 'slice' = True; expected false: a sequence feature is no slice"),
])
def test_time_and_sequence_features_are_checked(kwargs, message):
    from recsys.features import Feature

    with pytest.raises(ValueError, match=message):
        Feature("ts", **kwargs)


def test_age_at_needs_a_numeric_time_and_a_time_feature():
    from recsys.features import Feature, FeatureConfig

    with pytest.raises(ValueError, match=r"'listed': field 'age_at' = 'ts'; expected unset, or on a numeric int64"):
        Feature("listed", "numeric", dtype="float", age_at="ts")
    base = (Feature("user_id", "categorical"), Feature("item_id", "categorical"),
            Feature("price", "numeric", dtype="float"))
    with pytest.raises(ValueError, match=r"feature 'listed': age_at='price'; expected a feature of kind 'time'"):
        FeatureConfig("t", base + (Feature("listed", "numeric", dtype="int64", age_at="price"),))


@pytest.mark.parametrize("kwargs,message", [
    (dict(top_k=0), r"'item_id': field 'top_k' = 0; expected a vocabulary size >= 1"),
    (dict(top_k=2.5), r"'item_id': field 'top_k' = 2.5; expected a vocabulary size >= 1"),
    (dict(frequency_threshold=-1), r"'item_id': field 'frequency_threshold' = -1; expected an int >= 0"),
    (dict(kind="numeric", dtype="float", top_k=5), r"'item_id': field 'kind' = 'numeric'; expected a vocabulary kind"),
    (dict(kind="sequence", max_length=3, vocab_from="x", top_k=5),
     r"'item_id': field 'vocab_from' = 'x'; expected no top_k / frequency_threshold / num_oov_buckets"),
])
def test_vocabulary_size_settings_are_checked(kwargs, message):
    from recsys.features import Feature

    with pytest.raises(ValueError, match=message):
        Feature("item_id", **{"kind": "categorical", **kwargs})


def test_match_of_needs_a_multi_valued_feature_and_a_categorical_of_its_dtype():
    from recsys.features import Feature

    with pytest.raises(ValueError, match=r"'cat': field 'match_of' = 'x'; expected unset, or on a multi"):
        Feature("cat", "categorical", match_of="x")
    base = (Feature("user_id", "categorical"), Feature("item_id", "categorical"),
            Feature("price", "numeric", dtype="float"))
    with pytest.raises(ValueError, match=r"feature 'hist': match_of='price'; expected a categorical"):
        FeatureConfig("t", base + (Feature("hist", "multi_categorical", max_length=2,
                                           match_of="price"),))
    ok = FeatureConfig("t", base + (Feature("hist", "multi_categorical", max_length=2,
                                            match_of="item_id"),))
    assert ok["hist"].match_key == "hist_match" and ok["item_id"].match_key is None
