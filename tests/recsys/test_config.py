"""The typed run config: sub-configs per model / option group, the flat keys of earlier versions,
test-only knobs kept out of it, and the JSON round trip TFX's custom_config takes."""

import dataclasses
import json
import time
import typing

import pytest

from recsys.config import (DEFAULT_CONFIG_PATH, Config, ConfigError, RankerModel, TrainConfig,
                           check_run_inputs, config_from_json, load_config)


def test_sub_configs_from_the_command_line_and_toml(tmp_path):
    cfg = load_config(None, ["train.dcn.cross_layers=3", "train.din.attention_units=8,4",
                             "train.blend.steps=7", "train.wide_deep.wide_learning_rate=0.5"])
    assert cfg.train.dcn.cross_layers == 3 and cfg.train.din.attention_units == (8, 4)
    assert cfg.train.blend.steps == 7 and cfg.train.wide_deep.wide_learning_rate == 0.5
    toml = tmp_path / "run.toml"
    toml.write_text('[train]\nmodel = "din"\n[train.din]\nactivation = "sigmoid"\n')
    assert load_config(str(toml)).train.din.activation == "sigmoid"


@pytest.mark.parametrize("flat, value, get", [
    ("cross_layers", "4", lambda t: t.dcn.cross_layers == 4),
    ("projection_dim", "8", lambda t: t.dcn.projection_dim == 8),
    ("cross_structure", "parallel", lambda t: t.dcn.structure == "parallel"),
    ("wide_learning_rate", "0.2", lambda t: t.wide_deep.wide_learning_rate == 0.2),
    ("attention_units", "16", lambda t: t.din.attention_units == (16,)),
    ("attention_activation", "relu", lambda t: t.din.activation == "relu"),
    ("neighbours", "5", lambda t: t.blend.neighbours == 5),
    ("blend_holdout_every", "4", lambda t: t.blend.holdout_every == 4),
    ("blend_steps", "9", lambda t: t.blend.steps == 9),
])
def test_documented_flat_keys_still_work(flat, value, get):
    assert get(load_config(None, [f"train.{flat}={value}"]).train)


def test_test_only_knob_moved_with_a_clear_error():
    with pytest.raises(ValueError, match=r"train.shuffle_labels is now testing.shuffle_labels"):
        load_config(None, ["train.shuffle_labels=true"])
    assert load_config(None, ["testing.shuffle_labels=true"]).testing.shuffle_labels is True
    assert "shuffle_labels" not in {f.name for f in dataclasses.fields(TrainConfig)}


def test_unknown_and_badly_typed_keys_name_the_key():
    with pytest.raises(ValueError, match=r"\[train.dcn\]: unknown key 'depth'"):
        load_config(None, ["train.dcn.depth=3"])
    with pytest.raises(ValueError, match=r"train.dcn.cross_layers: 'many'; expected an integer"):
        load_config(None, ["train.dcn.cross_layers=many"])
    with pytest.raises(ValueError, match=r"config train.dcn: '3'; expected a table"):
        load_config(None, ["train.dcn=3"])


def test_custom_config_json_round_trip():
    cfg = load_config(DEFAULT_CONFIG_PATH, ["train.din.attention_units=8,4", "train.dcn.projection_dim=2"])
    back = config_from_json(TrainConfig, json.loads(json.dumps(cfg.to_dict()["train"])))
    assert back == cfg.train and isinstance(back.dcn.projection_dim, int)
    assert back.din.attention_units == (8, 4)


def test_default_toml_is_the_defaults():
    """Every section, not only [train]: the gate's bounds ([eval]) or the data size ([data]) edited
    in default.toml but not in the dataclasses would make the tests (which build ``Config()``)
    check other settings than a user runs."""
    loaded = load_config(DEFAULT_CONFIG_PATH)
    for section in dataclasses.fields(Config):
        assert getattr(loaded, section.name) == getattr(Config(), section.name), section.name


def test_every_bad_key_is_listed_in_one_error_with_its_value_and_expectation():
    with pytest.raises(ConfigError) as e:
        load_config(DEFAULT_CONFIG_PATH, ["train.epochs=-1", "train.model=xgboost",
                                          "data.eval_fraction=1.5", "train.deep_layers=64,0",
                                          "train.learning_rate=nan", "data.split=random"])
    msg = str(e.value)
    assert msg.startswith("6 problems"), msg
    for line in ["train.epochs: '-1'; expected an integer >= 1",
                 "train.model: 'xgboost'; expected one of 'dcn', 'wide_deep', 'din'",
                 "data.eval_fraction: '1.5'; expected a number > 0.025 and < 0.975",
                 "train.deep_layers: '64,0'; expected a comma-separated list, each an integer >= 1",
                 "train.learning_rate: 'nan'; expected a number > 0",
                 "data.split: 'random'; expected one of 'hash', 'temporal'"]:
        assert line in msg, (line, msg)


def test_ranges_and_choices_hold_for_toml_values_too(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[train]\nepochs = 0\nmodel = "xgboost"\n[serving]\nport = 70000\n')
    with pytest.raises(ConfigError) as e:
        load_config(str(path))
    assert len(e.value.problems) == 3, e.value.problems
    assert "config serving.port: 70000; expected an integer >= 1 and <= 65535" in str(e.value)


def test_ranker_choices_are_the_models_the_factory_builds():
    pytest.importorskip("tensorflow")
    from recsys.models.factory import BUILDERS

    assert set(typing.get_args(RankerModel)) == set(BUILDERS)


def test_run_inputs_are_checked_before_any_work(tmp_path):
    cfg = load_config(None, ["data.dataset=movielens", f"data.source={tmp_path / 'nope'}",
                             f"data.features={tmp_path / 'f.toml'}"])
    with pytest.raises(ConfigError) as e:
        check_run_inputs(cfg)
    assert [p.split(":")[0] for p in e.value.problems] == ["config data.source", "config data.features"]
    (tmp_path / "f.toml").write_text('dataset = "nothing_curated"\n[[feature]]\nname = "user_id"\n'
                                     'kind = "categorical"\n[[feature]]\nname = "item_id"\n'
                                     'kind = "categorical"\n')
    with pytest.raises(ConfigError, match=r"no curated schema at .*nothing_curated.pbtxt"):
        check_run_inputs(load_config(None, [f"data.features={tmp_path / 'f.toml'}"]))
    assert check_run_inputs(load_config(DEFAULT_CONFIG_PATH)).dataset == "synthetic"


@pytest.mark.parametrize("override", ["train.epochs=-1", "train.model=xgboost",
                                      "data.source=/nonexistent"])
def test_recsys_run_refuses_a_bad_config_before_writing_anything(tmp_path, capsys, override):
    from recsys.cli import main

    out = tmp_path / "runs"
    t = time.perf_counter()
    status = main(["run", "--set", f"pipeline.output_dir={out}", "--set", "data.dataset=movielens",
                   "--set", f"data.source={tmp_path}", "--set", override])
    assert status == 2 and not out.exists()  # no log, no data, no pipeline root
    assert time.perf_counter() - t < 30
    err = capsys.readouterr().err
    assert err.startswith("error: config ") and override.split("=")[1] in err, err
