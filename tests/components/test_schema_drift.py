"""Drift against the curated schemas, for every reader: what each reader prepares passes its
schema, and a category explosion, a missing feature and out-of-range numbers are each reported
naming the feature and the problem (ExampleValidator's findings, computed in memory by
``anomalies_in``; the AnomaliesGate turns them into the error that stops a run before Transform).
"""

import os

import pytest

from recsys.components.anomalies_gate import anomalies_in
from recsys.config import load_config, schema_path
from recsys.data import movielens_fixture
from recsys.data.canonical import read_tfrecords, to_tf_example
from recsys.data.prepare import prepare_data
from recsys.features import FeatureConfig

LATEST_FEATURES = "configs/features/movielens_latest.toml"
# reader -> (overrides, a closed categorical, a required single-valued numeric)
READERS = {
    "synthetic": (["data.num_events=3000", "data.num_users=200", "data.num_items=150"],
                  "item_category", "item_price"),
    "ml-100k": (["data.dataset=movielens"], "item_genres", "history_rating_mean"),
    "ml-1m": (["data.dataset=movielens"], "item_genres", "history_rating_mean"),
    "ml-latest": (["data.dataset=movielens", f"data.features={LATEST_FEATURES}"], "item_genres",
                  "history_rating_mean"),
}


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """reader -> (records as prepare_data wrote them, the schema they are checked against)."""
    from recsys.config import REPO_ROOT

    out = {}
    for reader, (overrides, *_) in READERS.items():
        tmp = tmp_path_factory.mktemp(reader)
        extra = []
        if reader != "synthetic":
            source = movielens_fixture.write(str(tmp / "source"), reader, num_users=60,
                                             num_movies=80, ratings_per_user=(5, 30))
            extra = [f"data.source={source}"]
        overrides = [o.replace(LATEST_FEATURES, os.path.join(REPO_ROOT, LATEST_FEATURES))
                     for o in overrides]
        cfg = load_config(None, [f"pipeline.output_dir={tmp / 'out'}", "data.num_shards=1",
                                 *overrides, *extra])
        root = prepare_data(cfg)
        out[reader] = (list(read_tfrecords(os.path.join(root, "*", "*.tfrecord.gz"))),
                       schema_path(FeatureConfig.load(cfg.features_path).dataset))
    return out


def _anomalies(records, schema):
    return anomalies_in([to_tf_example(r).SerializeToString() for r in records], schema)


@pytest.mark.parametrize("reader", READERS)
def test_what_each_reader_prepares_passes_its_curated_schema(prepared, reader):
    records, schema = prepared[reader]
    assert len(records) > 100
    assert _anomalies(records, schema) == []


@pytest.mark.parametrize("reader", READERS)
def test_category_explosion_is_named(prepared, reader):
    records, schema = prepared[reader]
    closed = READERS[reader][1]
    drifted = [{**r, closed: [f"new-{i}"]} if i % 2 else r for i, r in enumerate(records)]
    (line,) = _anomalies(drifted, schema)
    assert line.startswith(f"data: feature {closed!r}: Unexpected string values"), line
    assert "new-1" in line


@pytest.mark.parametrize("reader", READERS)
def test_missing_feature_is_named(prepared, reader):
    records, schema = prepared[reader]
    numeric = READERS[reader][2]
    (line,) = _anomalies([{k: v for k, v in r.items() if k != numeric} for r in records], schema)
    assert line.startswith(f"data: feature {numeric!r}: Column dropped"), line


@pytest.mark.parametrize("reader", READERS)
def test_timestamps_in_milliseconds_are_out_of_range(prepared, reader):
    records, schema = prepared[reader]
    (line,) = _anomalies([{**r, "timestamp": [t * 1000 for t in r["timestamp"]]} for r in records],
                         schema)
    assert line.startswith("data: feature 'timestamp': Out-of-range values"), line
