"""The idempotent Pusher recognises a model that is already a served version."""

import os

from components.pusher import find_identical_version, tree_digest


def _model(path, weights=b"w1"):
    os.makedirs(os.path.join(path, "variables"))
    with open(os.path.join(path, "saved_model.pb"), "wb") as fh:
        fh.write(b"graph")
    with open(os.path.join(path, "variables", "variables.data-00000-of-00001"), "wb") as fh:
        fh.write(weights)
    return path


def test_identical_tree_is_found_and_a_changed_weight_is_not(tmp_path):
    candidate = _model(str(tmp_path / "candidate"))
    base = tmp_path / "serving"
    _model(str(base / "100"), weights=b"other")
    assert find_identical_version(candidate, str(base)) is None
    _model(str(base / "200"))
    assert find_identical_version(candidate, str(base)) == "200"
    assert find_identical_version(candidate, str(tmp_path / "missing")) is None


def test_digest_covers_file_names_not_only_bytes(tmp_path):
    a = _model(str(tmp_path / "a"))
    b = _model(str(tmp_path / "b"))
    assert tree_digest(a) == tree_digest(b)
    os.rename(os.path.join(b, "saved_model.pb"), os.path.join(b, "saved_model.pbtxt"))
    assert tree_digest(a) != tree_digest(b)


def test_stack_pins_both_models_to_the_newest_common_version(tmp_path):
    from serving.stack import matching_version, model_config

    for model, version in [("ranker", "100"), ("retriever", "100"), ("ranker", "200"),
                           ("retriever", "300")]:
        _model(str(tmp_path / model / version))
    os.makedirs(tmp_path / "ranker" / "300")  # a push still in progress: no saved_model.pb yet
    assert matching_version(str(tmp_path), ("ranker", "retriever")) == 100
    config = model_config(100, ("ranker", "retriever"))
    assert config.count("specific { versions: 100 }") == 2 and 'base_path: "/models/retriever"' in config


def test_stack_names_what_it_found_when_nothing_matches(tmp_path):
    import pytest

    from serving.stack import matching_version

    _model(str(tmp_path / "ranker" / "100"))
    with pytest.raises(LookupError, match="ranker.*100"):
        matching_version(str(tmp_path), ("ranker", "retriever"))


def test_run_version_is_the_pipeline_runs_start():
    import datetime

    from components.pusher import run_version

    start = datetime.datetime(2026, 11, 23, 19, 0, 5)
    assert run_version(start.isoformat()) == str(int(start.timestamp()))
    assert run_version(None).isdigit()
