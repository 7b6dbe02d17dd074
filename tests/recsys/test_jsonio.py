"""Reports are JSON every parser reads: an undefined metric is null, never a bare NaN."""

import json

import numpy as np
import pytest

from recsys import jsonio


def _strict(text):
    def refuse(constant):
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def test_non_finite_floats_become_null_at_any_depth():
    report = {"auc": float("nan"), "slices": [{"gauc": np.float32("nan"), "n": np.int64(3)}],
              "lift": -float("inf"), "recall": np.float64(0.25), "ok": True}
    assert _strict(jsonio.dumps(report)) == {"auc": None, "slices": [{"gauc": None, "n": 3}],
                                             "lift": None, "recall": 0.25, "ok": True}
    with pytest.raises(ValueError):  # the check itself: Python's json writes NaN
        _strict(json.dumps({"auc": float("nan")}))


def test_recsys_summary_prints_valid_json_when_a_metric_is_nan(monkeypatch, capsys, tmp_path):
    from recsys import cli
    from recsys.pipeline import local_runner

    monkeypatch.setattr(local_runner, "summarize",
                        lambda paths: {"blessed": False, "metrics": {"auc": float("nan")}})
    assert cli.main(["summary", "--set", f"pipeline.output_dir={tmp_path}"]) == 0
    assert _strict(capsys.readouterr().out) == {"blessed": False, "metrics": {"auc": None}}
