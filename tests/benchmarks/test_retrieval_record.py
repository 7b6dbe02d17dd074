"""benchmarks/retrieval.py records each row with the run that measured it: a later
``--record-as`` run adds its rows to a protocol without giving the earlier rows its command."""

import json
import sys
import types

from benchmarks import retrieval

CONFIG = types.SimpleNamespace(data=types.SimpleNamespace(dataset="movielens"),
                               retrieval_eval=types.SimpleNamespace(exclude_seen=True))
RUN = {"count": 943, "catalog_size": 1682}


def _record(monkeypatch, argv, rows):
    monkeypatch.setattr(sys, "argv", argv)
    retrieval._record_protocol("next_item_validation", rows, RUN, CONFIG, [])


def test_a_later_run_adds_rows_and_leaves_the_earlier_rows_their_own_command(tmp_path, monkeypatch):
    monkeypatch.setattr(retrieval, "RESULTS", str(tmp_path / "r.json"))
    _record(monkeypatch, ["retrieval.py", "--record-as", "w=0"], {"sasrec w=0": {"ndcg@10": 0.104}})
    _record(monkeypatch, ["retrieval.py", "--record-as", "w=1"], {"sasrec w=1": {"ndcg@10": 0.100}})
    entry = json.loads((tmp_path / "r.json").read_text())["protocols"]["next_item_validation"]
    assert entry["rows"]["sasrec w=0"]["run"]["command"].endswith("--record-as w=0")
    assert entry["rows"]["sasrec w=1"]["run"]["command"].endswith("--record-as w=1")
    assert entry["rows"]["sasrec w=0"]["ndcg@10"] == 0.104
    assert entry["command"].endswith("--record-as w=1")  # the entry: the latest run


def test_rows_recorded_before_per_row_stamps_take_the_entry_s_stamp(tmp_path, monkeypatch):
    path = tmp_path / "r.json"
    monkeypatch.setattr(retrieval, "RESULTS", str(path))
    old = {"rows": {"sasrec": {"ndcg@10": 0.1}}, "command": "python retrieval.py --old",
           "commit": "abc1234", "date": "2026-12-01T10:00:00Z", "machine": {"cpus": 2}}
    path.write_text(json.dumps({"protocols": {"next_item_validation": old}}))
    _record(monkeypatch, ["retrieval.py", "--new"], {"sasrec new": {"ndcg@10": 0.2}})
    rows = json.loads(path.read_text())["protocols"]["next_item_validation"]["rows"]
    assert rows["sasrec"]["run"] == {k: old[k] for k in ("command", "commit", "date", "machine")}
    assert rows["sasrec new"]["run"]["command"].endswith("retrieval.py --new")
