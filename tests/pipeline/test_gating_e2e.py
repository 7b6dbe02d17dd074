"""The gate holds: a deliberately useless model (trained on shuffled labels) is evaluated against
the last blessed model, is not blessed, is not pushed, and the serving directory is untouched.

Marked ``e2e``: two pipeline runs on tiny synthetic data (a few minutes on 2 cores).
"""

import hashlib
import os

import pytest

from recsys.evaluation import eval_result, report
from recsys.pipeline.local_runner import RunPaths, run
from recsys.cli import main as cli

pytestmark = pytest.mark.e2e

# The retriever has its own gate and tests (test_pipeline_e2e, test_retrieval); off here.
SMALL = ["data.num_events=20000", "data.num_users=500", "data.num_items=300", "train.epochs=2",
         "retrieval.enabled=false"]


def _tree_digest(root: str) -> dict[str, str]:
    out = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            path = os.path.join(dirpath, name)
            with open(path, "rb") as fh:
                out[os.path.relpath(path, root)] = hashlib.sha256(fh.read()).hexdigest()
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    from recsys.config import load_config

    out = str(tmp_path_factory.mktemp("gate"))
    good = load_config(None, [f"pipeline.output_dir={out}", *SMALL])
    first = run(good)
    serving = RunPaths.from_config(good).serving_dir
    before = _tree_digest(serving)
    bad = load_config(None, [f"pipeline.output_dir={out}", *SMALL, "testing.shuffle_labels=true"])
    second = run(bad)
    return good, first, second, before, _tree_digest(serving)


def test_good_model_is_blessed_and_pushed(runs):
    _, first, _, before, _ = runs
    assert first["blessed"] is True
    assert len(first["pushed_versions"]) == 1 and before
    assert first["metrics"]["auc"] > 0.6
    assert 0.5 < first["metrics"]["gauc"] < 1 and 0 < first["metrics"]["ndcg@10"] <= 1


def test_shuffled_label_model_is_not_blessed_not_pushed_serving_unchanged(runs):
    _, first, second, before, after = runs
    assert second["components"]["Trainer"] == "COMPLETE"  # a new model was trained and evaluated
    assert second["blessed"] is False
    assert second["pushed_versions"] == first["pushed_versions"]
    assert after == before  # byte-identical serving directory
    assert second["metrics"]["auc"] < 0.6


def test_verdict_names_the_failed_thresholds_and_the_report_shows_them(runs, tmp_path):
    good, _, second, _, _ = runs
    evaluation = eval_result.load(second["evaluation_uri"])
    assert evaluation.baseline is not None  # compared with the blessed first model
    assert evaluation.verdict.passed is False
    failed = " ".join(evaluation.verdict.failures)
    assert "auc = " in failed and ">= 0.6" in failed  # absolute threshold
    assert "change vs baseline" in failed  # change threshold against the last blessed model
    assert evaluation.slices[0].diffs["auc"] < -0.01
    out = tmp_path / "report.html"
    assert cli(["report", "--out", str(out), "--set", f"pipeline.output_dir={good.pipeline.output_dir}"]) == 0
    text = out.read_text()
    assert 'data-passed="false"' in text and "change vs baseline" in text
    assert report.verdict_headline(evaluation) == "NOT BLESSED"
