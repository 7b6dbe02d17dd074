"""``extends`` in a feature config, and the session log's config chosen by ``data.sessions``."""

import pytest

from recsys.config import ConfigError, check_run_inputs, load_config
from recsys.features import FeatureConfig


def test_the_session_config_is_synthetic_plus_the_session_history():
    base = FeatureConfig.load(load_config(None, []).features_path)
    config = load_config(None, ["data.sessions=true"])
    assert config.features_path.endswith("synthetic_sessions.toml")
    sessions = check_run_inputs(config)  # loads it and finds its curated schema
    assert [f.name for f in sessions.features] == [f.name for f in base.features] + ["session_history"]
    assert sessions["session_history"].side == "context" and sessions.dataset == "synthetic_sessions"
    assert sessions.crosses == base.crosses and sessions.count_slices == base.count_slices
    assert sessions.label == base.label and sessions.conversion == base.conversion


def test_extends_names_a_missing_parent(tmp_path):
    path = tmp_path / "child.toml"
    path.write_text('extends = "nowhere.toml"\ndataset = "x"\n')
    with pytest.raises(ValueError, match=r"extends = 'nowhere.toml'; expected a feature config file"):
        FeatureConfig.load(str(path))


def test_sessions_need_the_synthetic_generator():
    with pytest.raises(ConfigError, match=r"data.sessions: true with data.dataset = 'movielens'"):
        check_run_inputs(load_config(None, ["data.sessions=true", "data.dataset=movielens",
                                            "data.source=/nonexistent"]))

