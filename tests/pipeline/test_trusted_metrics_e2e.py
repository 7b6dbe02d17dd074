"""Gates and metrics that can be trusted, on a real run: a catalogue not larger than K is not
blessed for retrieval (and not pushed), item slices show no per-user metrics, and neither the
run's JSON nor the HTML report holds a NaN.

Marked ``e2e``: one pipeline run on tiny synthetic data (a few minutes on 2 cores).
"""

import json
import re

import pytest

from recsys.cli import main as cli
from recsys.config import load_config
from recsys.evaluation import eval_result
from recsys.pipeline.local_runner import run
from tests.e2e_runs import IN_PROCESS_BEAM

pytestmark = pytest.mark.e2e

# 80 items: fewer than K = 100, so every top-100 list would hold the whole catalogue.
SMALL = ["data.num_events=8000", "data.num_users=300", "data.num_items=80", "train.epochs=1",
         "retrieval.epochs=1", *IN_PROCESS_BEAM]


@pytest.fixture(scope="module")
def small_catalogue(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("trusted"))
    config = load_config(None, [f"pipeline.output_dir={out}", *SMALL])
    return config, run(config)


def test_retriever_of_a_catalogue_not_larger_than_k_is_not_blessed_nor_pushed(small_catalogue):
    _, report = small_catalogue
    retrieval = report["retrieval"]
    assert retrieval["blessed"] is False and retrieval["pushed_versions"] == []
    [failure] = retrieval["failures"]
    assert re.match(r"catalogue has \d+ items, not more than K = 100", failure), failure


def test_item_slices_show_no_per_user_metrics_and_nothing_is_nan(small_catalogue, tmp_path):
    config, report = small_catalogue
    json.dumps(report, allow_nan=False)  # the run's JSON report: no NaN
    evaluation = eval_result.load(report["evaluation_uri"])
    items = [s for s in evaluation.slices if s.slice.startswith("item_popularity=")]
    users = [s for s in evaluation.slices if s.slice.startswith("user_activity=")]
    assert len(items) == 3 and len(users) == 3
    for s in items:
        assert "gauc" not in s.metrics and "ndcg@10" not in s.metrics
        assert s.undefined["gauc"] == eval_result.PER_USER_OFF_SLICE
        assert "auc" in s.metrics  # example-level metrics stay
    for s in users:
        assert "gauc" in s.metrics and "gauc" not in s.undefined
    out = tmp_path / "report.html"
    assert cli(["report", "--out", str(out), "--set", f"pipeline.output_dir={config.pipeline.output_dir}"]) == 0
    text = out.read_text()
    assert not re.search(r'>\s*nan\s*<|data-value="nan"', text, re.IGNORECASE)
    assert "data-undefined=" in text
