"""The baseline Resolver strategy: the latest blessed model comparable with this run, or none.

Models are plain Model/ModelBlessing artifacts over temporary directories, each carrying (or not)
the comparability record the Trainer exports; the strategy is called as the Resolver calls it.
"""

import logging
import os

import pytest
from tfx.types import standard_artifacts

from recsys.components.baseline_resolver import ComparableBlessedModelStrategy, resolver_config
from recsys.training.comparability import (comparability_record, incompatibility, read_record,
                                           write_record)
from recsys.pipeline.pipeline import schema_feature_spec
from recsys.config import CONFIG_DIR
from recsys.features import FeatureConfig

FEATURES = FeatureConfig.load(os.path.join(CONFIG_DIR, "features", "movielens.toml"))
SCHEMA = schema_feature_spec(os.path.join(CONFIG_DIR, "schemas", "movielens.pbtxt"))
SERVED = {f.name: SCHEMA[f.name] for f in FEATURES.features}  # what a model's signature parses


def _current(label_mode="binary", schema=SCHEMA):
    return comparability_record(FEATURES, label_mode, schema)


def _model(tmp_path, model_id, record=None, blessed=True):
    """(Model, ModelBlessing) as the Trainer and Evaluator leave them; ``record`` None: none written."""
    model = standard_artifacts.Model()
    model.uri = str(tmp_path / f"model{model_id}")
    model.id = model_id
    os.makedirs(os.path.join(model.uri, "Format-Serving"))
    if record is not None:
        write_record(os.path.join(model.uri, "Format-Serving"), record)
    blessing = standard_artifacts.ModelBlessing()
    blessing.set_int_custom_property("blessed", int(blessed))
    blessing.set_int_custom_property("current_model_id", model_id)
    return model, blessing


def _resolve(models, current):
    result = ComparableBlessedModelStrategy(**resolver_config(current)).resolve_artifacts(
        None, {"model": [m for m, _ in models], "model_blessing": [b for _, b in models]})
    return [m.id for m in result["model"]], [b.get_int_custom_property("current_model_id")
                                             for b in result["model_blessing"]]


def test_latest_comparable_blessed_model_is_chosen(tmp_path):
    binary = comparability_record(FEATURES, "binary", SERVED)
    models = [_model(tmp_path, 1, binary), _model(tmp_path, 2, binary),
              _model(tmp_path, 3, binary, blessed=False)]
    assert _resolve(models, _current()) == ([2], [2])


def test_newer_model_with_another_label_mode_is_skipped_for_an_older_comparable_one(tmp_path, caplog):
    models = [_model(tmp_path, 1, comparability_record(FEATURES, "binary", SERVED)),
              _model(tmp_path, 2, comparability_record(FEATURES, "regression", SERVED))]
    with caplog.at_level(logging.INFO):
        assert _resolve(models, _current("binary")) == ([1], [1])
    assert "skipping blessed model 2" in caplog.text and "label_mode 'regression'" in caplog.text
    assert _resolve(models, _current("regression")) == ([2], [2])


def test_no_comparable_model_gives_no_baseline_and_says_why(tmp_path, caplog):
    synthetic = FeatureConfig.load(os.path.join(CONFIG_DIR, "features", "synthetic.toml"))
    synthetic_schema = schema_feature_spec(os.path.join(CONFIG_DIR, "schemas", "synthetic.pbtxt"))
    record = comparability_record(synthetic, "binary",
                                  {f.name: synthetic_schema[f.name] for f in synthetic.features})
    with caplog.at_level(logging.INFO):
        assert _resolve([_model(tmp_path, 1, record)], _current()) == ([], [])
    assert "dataset 'synthetic' differs" in caplog.text
    assert "without a baseline" in caplog.text


def test_model_without_record_is_skipped(tmp_path, caplog):
    with caplog.at_level(logging.INFO):
        assert _resolve([_model(tmp_path, 1, record=None)], _current()) == ([], [])
    assert "has no assets.extra/comparability.json" in caplog.text


def test_raw_feature_missing_or_parsed_differently_is_incompatible():
    baseline = comparability_record(FEATURES, "binary", SERVED)
    without_zip = {k: v for k, v in SCHEMA.items() if k != "user_zip"}
    assert "['user_zip']" in incompatibility(baseline, _current(schema=without_zip))
    import tensorflow as tf
    retyped = dict(SCHEMA, user_age=tf.io.FixedLenFeature([1], tf.float32))
    reason = incompatibility(baseline, _current(schema=retyped))
    assert "user_age" in reason and "int64" in reason and "float32" in reason


def test_a_dropped_feature_keeps_the_baseline_it_would_replace(tmp_path):
    # The candidate's config lost user_zip, but the examples still have it: the blessed model can
    # be scored on them, so the gate still compares with it.
    fewer = FeatureConfig.from_dict({**FEATURES.to_dict(), "features": [
        f for f in FEATURES.to_dict()["features"] if f["name"] != "user_zip"]})
    models = [_model(tmp_path, 1, comparability_record(FEATURES, "binary", SERVED))]
    assert _resolve(models, comparability_record(fewer, "binary", SCHEMA)) == ([1], [1])


def test_record_round_trips_through_the_model_artifact_uri(tmp_path):
    record = comparability_record(FEATURES, "regression", SERVED)
    model, _ = _model(tmp_path, 7, record)
    assert read_record(model.uri) == record
    assert record["label_key"] == "rating" and set(record["raw_inputs"]) == set(SERVED)


def test_config_survives_the_pipeline_ir_round_trip():
    # The Resolver's config is stored in the compiled pipeline and parsed back into the strategy's
    # constructor kwargs by the orchestrator (a nested dict would not parse back).
    from tfx.orchestration import data_types_utils
    from tfx.proto.orchestration import pipeline_pb2

    kwargs = {}
    for key, value in resolver_config(_current()).items():
        stored = pipeline_pb2.Value()
        data_types_utils.set_parameter_value(stored, value)
        kwargs[key] = data_types_utils.get_parsed_value(
            stored.field_value, stored.schema if stored.HasField("schema") else None)
    assert ComparableBlessedModelStrategy(**kwargs)._current == _current()


def test_current_record_must_be_complete():
    with pytest.raises(ValueError, match="raw_inputs"):
        ComparableBlessedModelStrategy(**resolver_config(
            {"dataset": "x", "label_mode": "binary", "label_key": "y"}))


def test_a_single_task_model_is_no_baseline_for_a_multitask_gate():
    """The multi-task gate compares ``ctcvr`` too, which a single-task model does not output (TFMA
    would fail on it); the other way round the multi-task model's ``probability`` compares fine.
    A record from before the field existed is read as a single-task model's."""
    single = comparability_record(FEATURES, "binary", SERVED)
    multi = comparability_record(FEATURES, "binary", SERVED, "esmm")
    assert multi["outputs"] == ["probability", "purchase_probability", "ctcvr"]
    reason = incompatibility(single, _current() | {"outputs": multi["outputs"]})
    assert "no outputs ['purchase_probability', 'ctcvr']" in reason
    old = {k: v for k, v in single.items() if k != "outputs"}
    assert "no outputs" in incompatibility(old, _current() | {"outputs": multi["outputs"]})
    assert incompatibility(multi, _current()) is None


def test_a_model_without_the_slice_signature_is_no_baseline():
    """TFMA calls the cold-start slice signature on the baseline too, and fails on a model
    exported before it existed; such a model is skipped (a record without the field)."""
    current = _current()
    assert current["signatures"] == ["evaluation_slices"]
    old = {k: v for k, v in comparability_record(FEATURES, "binary", SERVED).items() if k != "signatures"}
    assert "no signatures ['evaluation_slices']" in incompatibility(old, current)
    assert incompatibility(comparability_record(FEATURES, "binary", SERVED), current) is None
