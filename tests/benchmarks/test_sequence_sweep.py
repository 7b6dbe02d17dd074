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


def test_order_signal_by_hand():
    from benchmarks.sequence_order import order_signal

    # user a: 0, 0, 60, 660 s -> gaps 0, 60, 600; test case at 660, history (k=2) = [0, 60] (the
    # second 0 is a tie: both kept), newest 60 -> 10 minutes, 2 distinct seconds, window 11 min.
    # user b: 5, 5 -> gap 0; its last rating has nothing strictly earlier: no test case.
    s = order_signal(["a", "b", "a", "a", "a", "b"], [660, 5, 0, 0, 60, 5], k=2)
    assert s["test_cases"] == 1 and s["ratings"] == 6
    assert s["consecutive_same_second"] == 2 / 4 and s["consecutive_within_5_minutes"] == 3 / 4
    assert s["target_minutes_after_newest_history_item_median"] == 10.0
    assert s["history_distinct_seconds_median"] == 2 and s["history_window_minutes_median"] == 11.0
