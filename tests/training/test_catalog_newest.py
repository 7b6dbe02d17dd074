"""The retrieval index's catalogue holds each item's newest attributes: a price or a real-time
``item_ctr`` changes, and the index returns them with its candidates (``build_catalog``)."""

import dataclasses

import numpy as np

from recsys.features import Feature
from recsys.models.retrieval import CANDIDATE_SIDES, transformed_keys
from recsys.training.retriever import build_catalog
from tests.tiny import CONFIG, ROWS, analyze_and_transform, write_gz

TIMED = dataclasses.replace(CONFIG, features=CONFIG.features + (
    Feature("timestamp", "time", dtype="int64", side="context"),))
# Item 'a' three times, newest (t = 300) in the middle of the file; 'b' newest last; 'c' once.
TIMES = [200, 100, 300, 50, 400, 10]


def _catalog(config, rows, tmp_path):
    data, _, out = analyze_and_transform(rows, config)
    files = [write_gz(data[:3], str(tmp_path / "part-0.gz")), write_gz(data[3:], str(tmp_path / "part-1.gz"))]
    return (*build_catalog(files, out, config, transformed_keys(config, CANDIDATE_SIDES)), data)


def test_each_item_keeps_its_newest_example(tmp_path):
    rows = [dict(r, timestamp=t) for r, t in zip(ROWS, TIMES)]
    ids, catalog, attributes, data = _catalog(TIMED, rows, tmp_path)
    price = dict(zip(ids, attributes["item_price"].reshape(-1)))
    # a: t=200 price 1, t=300 price 3, t=50 price 4 -> 3; b: t=100 price 2, t=400 price 5 -> 5
    assert price == {"a": 3.0, "b": 5.0, "c": 6.0}
    assert list(ids) == ["a", "b", "c"]  # rows in first-seen order, as before
    # the transformed item features come from the same (newest) example as the raw attributes
    for name in catalog:
        np.testing.assert_array_equal(catalog[name], np.stack([data[2][name], data[4][name], data[5][name]]))


def test_without_a_time_feature_the_first_example_is_kept(tmp_path):
    ids, _, attributes, _ = _catalog(CONFIG, ROWS, tmp_path)
    assert dict(zip(ids, attributes["item_price"].reshape(-1))) == {"a": 1.0, "b": 2.0, "c": 6.0}
