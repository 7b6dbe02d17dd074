"""The leave-last-out split: per user the last interaction is eval, earlier ones train; the
validation variant holds out the second-to-last and drops the last; through prepare_data."""

import json
import os

import pytest

from recsys.config import load_config, DEFAULT_CONFIG_PATH
from recsys.data.canonical import read_tfrecords
from recsys.data.leave_last_out import LeaveLastOut, is_interaction
from recsys.data.prepare import prepare_data


def _log():
    # In time order. u1: clicks at 1, 3, 5 (non-clicks at 2, 6); u2: one click (t 4).
    return [dict(user_id="u1", t=1, label=1), dict(user_id="u1", t=2, label=0),
            dict(user_id="u1", t=3, label=1), dict(user_id="u2", t=4, label=1),
            dict(user_id="u1", t=5, label=1), dict(user_id="u1", t=6, label=0)]


def _split(records, **kw):
    splitter = LeaveLastOut(records, "user_id", **kw)
    return [(r["user_id"], r["t"], splitter.split(r)) for r in records]


def test_last_interaction_is_eval_and_later_non_interactions_go_with_it():
    got = _split(_log(), interaction=is_interaction("label", "label"))
    assert got == [("u1", 1, "train"), ("u1", 2, "train"), ("u1", 3, "train"),
                   ("u2", 4, "train"),  # one interaction only: nothing to train on, it trains
                   ("u1", 5, "eval"), ("u1", 6, "eval")]


def test_validation_holds_out_the_second_to_last_and_drops_the_rest():
    got = _split(_log(), interaction=is_interaction("label", "label"), validation=True)
    assert got == [("u1", 1, "train"), ("u1", 2, "train"), ("u1", 3, "eval"), ("u2", 4, "train"),
                   ("u1", 5, None), ("u1", 6, None)]


def test_every_record_an_interaction():
    got = _split(_log(), interaction=is_interaction("all", "label"))
    assert [s for *_, s in got] == ["train"] * 5 + ["eval"]  # u1's last record (t 6) is eval


@pytest.mark.e2e  # TensorFlow writes the shards: ~15 s
def test_prepare_writes_one_eval_case_per_user_with_every_earlier_one_in_train(tmp_path):
    config = load_config(DEFAULT_CONFIG_PATH, [
        f"pipeline.output_dir={tmp_path}", "data.split=leave_last_out", "data.num_events=3000",
        "data.num_users=50", "data.num_items=40", "data.num_shards=1"])
    root = prepare_data(config)
    train = list(read_tfrecords(os.path.join(root, "train", "*")))
    eval_ = list(read_tfrecords(os.path.join(root, "eval", "*")))
    clicks = [r for r in eval_ if r["label"][0]]
    users = [r["user_id"][0] for r in clicks]
    assert len(users) == len(set(users)) > 0  # one eval click per user
    for r in clicks:  # ... the user's last: no click of theirs in train is later
        later = [t for t in train if t["user_id"] == r["user_id"] and t["label"][0]
                 and t["timestamp"][0] > r["timestamp"][0]]
        assert not later
    with open(os.path.join(root, "manifest.json")) as fh:
        assert json.load(fh)["settings"]["leave_out_validation"] is False
