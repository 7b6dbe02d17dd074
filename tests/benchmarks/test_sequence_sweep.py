"""The sequence sweep's run syntax and its history length K: the feature config it writes has
every history, and only the histories, K long."""

import pytest

from benchmarks import sequence_sweep
from recsys.features import FeatureConfig


def test_history_k_rewrites_the_three_histories_only(tmp_path):
    shipped = {f.name: f.max_length for f in FeatureConfig.load(
        sequence_sweep.os.path.join(sequence_sweep.CONFIG_DIR, "features", "movielens.toml")).features}
    assert sequence_sweep.history_features(sequence_sweep.DEFAULT_K, str(tmp_path)) == ""
    longer = {f.name: f.max_length for f in FeatureConfig.load(
        sequence_sweep.history_features(50, str(tmp_path))).features}
    histories = {"history", "history_liked", "history_disliked"}
    assert {n: longer[n] for n in histories} == dict.fromkeys(histories, 50)
    assert {n: v for n, v in longer.items() if n not in histories} == {
        n: v for n, v in shipped.items() if n not in histories}  # item_genres keeps 6


def test_run_text_gives_name_k_and_overrides():
    assert sequence_sweep.parse_run("s @history=50 sequence_encoder=sasrec sasrec.blocks=1") == (
        "s", 50, ["sequence_encoder=sasrec", "sasrec.blocks=1"])
    assert sequence_sweep.parse_run("m") == ("m", 20, [])
    with pytest.raises(SystemExit, match="'blocks' is not key=value or @history=K"):
        sequence_sweep.parse_run("s blocks")
