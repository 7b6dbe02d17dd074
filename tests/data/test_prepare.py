"""Data preparation: temporal split is strictly by time, and an unchanged config reuses its files."""

import glob
import os

import pytest

from recsys.data.canonical import read_tfrecords
from recsys.data.prepare import MANIFEST, prepare_data, prepared_manifest
from recsys.config import load_config


def _config(tmp_path, *extra):
    return load_config(None, [f"pipeline.output_dir={tmp_path}", "data.num_events=3000",
                              "data.num_users=200", "data.num_items=150", "data.num_shards=2", *extra])


def test_temporal_split_puts_the_future_in_eval(tmp_path):
    root = prepare_data(_config(tmp_path, "data.split=temporal"))
    train = [r["timestamp"][0] for r in read_tfrecords(os.path.join(root, "train", "*"))]
    evals = [r["timestamp"][0] for r in read_tfrecords(os.path.join(root, "eval", "*"))]
    assert len(train) + len(evals) == 3000
    assert max(train) < min(evals)
    assert 0.15 < len(evals) / 3000 < 0.25


def test_same_settings_reuse_the_written_files(tmp_path):
    cfg = _config(tmp_path)
    root = prepare_data(cfg)
    assert os.path.exists(os.path.join(root, MANIFEST))
    mtimes = {p: os.path.getmtime(p) for p in glob.glob(os.path.join(root, "data", "*"))}
    assert len(mtimes) == 2
    assert prepare_data(cfg) == root
    assert {p: os.path.getmtime(p) for p in mtimes} == mtimes  # untouched: ExampleGen cache hits
    other = prepare_data(_config(tmp_path, "data.seed=8"))
    assert other != root


def test_schema_is_pinned_by_content_so_an_edit_is_a_cache_miss(tmp_path):
    from recsys.pipeline.local_runner import pinned_schema

    src = tmp_path / "s.pbtxt"
    src.write_text('feature { name: "a" }')
    first = pinned_schema(str(src), str(tmp_path / "out"))
    assert pinned_schema(str(src), str(tmp_path / "out")) == first
    src.write_text('feature { name: "a" }\nfeature { name: "b" }')
    second = pinned_schema(str(src), str(tmp_path / "out"))
    assert second != first and open(second).read() == src.read_text()
    assert open(first).read() == 'feature { name: "a" }'


def test_data_code_is_part_of_the_prepared_data_key(monkeypatch):
    from recsys.data import prepare
    from recsys.config import load_config

    config = load_config(None, ["pipeline.output_dir=/tmp/x"])
    before = prepare.data_root_for(config)
    monkeypatch.setattr(prepare, "_code_fingerprint", lambda: "changed")
    assert prepare.data_root_for(config) != before


def _movielens(tmp_path, layout, *extra):
    from tests.data.test_movielens import write_fixture

    source = write_fixture(tmp_path / layout, layout)
    return source, load_config(None, [f"pipeline.output_dir={tmp_path / 'out'}", "data.dataset=movielens",
                                      f"data.source={source}", *extra])


def test_an_empty_ratings_file_is_named_and_nothing_is_written(tmp_path):
    source, cfg = _movielens(tmp_path, "ml-100k")
    open(os.path.join(source, "u.data"), "w").close()
    with pytest.raises(ValueError, match=r"u.data: no ratings; expected at least one rating row"):
        prepare_data(cfg)
    assert not glob.glob(str(tmp_path / "out" / "data" / "*"))


def test_records_lacking_a_declared_feature_fail_before_anything_is_written(tmp_path):
    _, cfg = _movielens(tmp_path, "ml-latest")  # with ml-100k's feature config: demographics
    with pytest.raises(ValueError) as e:
        prepare_data(cfg)
    msg = str(e.value)
    assert "has no 'user_age', 'user_gender', 'user_occupation', 'user_zip'" in msg, msg
    assert "configs/features/movielens_latest.toml" in msg
    assert not glob.glob(str(tmp_path / "out" / "data" / "*"))


def test_skipped_rows_are_counted_in_the_manifest_and_on_the_terminal(tmp_path, monkeypatch):
    from recsys import progress

    source, cfg = _movielens(tmp_path, "ml-100k", "data.skip_bad_rows=true")
    with open(os.path.join(source, "u.data"), "a") as fh:
        fh.write("1\t1\t9\t500\n1\t4\t1\t300\n")  # a rating of 9; a second rating of movie 4
    lines = []
    monkeypatch.setattr(progress, "line", lines.append)
    root = prepare_data(cfg)
    assert prepared_manifest(root)["skipped"] == {"u.data: bad rating": 1, "u.data: duplicate rating": 1}
    assert lines[0] == ("skipped 2 bad rows (data.skip_bad_rows=true): 1 u.data: bad rating, "
                        "1 u.data: duplicate rating")
    assert sum(prepared_manifest(root)["counts"].values()) == 9
