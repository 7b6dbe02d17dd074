"""The README's ml-latest command runs as written (its curated schema ships), and data that drifts
from the curated schema stops the run before Transform and training, with a message naming the
feature and the problem on the terminal; nothing is trained, nothing is pushed.

Marked ``e2e``: two ``recsys run`` processes on a made-up ml-latest data set (a few minutes).
"""

import json
import os
import subprocess
import sys

import pytest

from recsys.config import REPO_ROOT, load_config
from recsys.data import movielens_fixture
from recsys.pipeline.local_runner import RunPaths, summarize

pytestmark = pytest.mark.e2e

README = ["--set", "data.dataset=movielens", "--set", "data.source={source}",
          "--set", "data.features=configs/features/movielens_latest.toml"]  # as README.md says
SMALL = ["--set", "train.epochs=3", "--set", "train.batch_size=256", "--set", "retrieval.epochs=2"]


def _recsys_run(source, out, *extra):
    """``recsys run`` in its own process from the checkout (the README's relative paths), as a
    user runs it: (exit status, terminal stdout, terminal stderr)."""
    args = [a.format(source=source) for a in README] + ["--set", f"pipeline.output_dir={out}", *extra]
    env = {**os.environ, "PYTHONPATH": REPO_ROOT}
    proc = subprocess.run([sys.executable, "-m", "recsys.cli", "run", *args], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=1500)
    return proc.returncode, proc.stdout, proc.stderr


def _versions(serving_dir):
    return sorted(os.listdir(serving_dir)) if os.path.isdir(serving_dir) else []


def test_readme_ml_latest_command_runs_and_pushes(tmp_path):
    source = movielens_fixture.write(str(tmp_path / "ml-latest-small"), "ml-latest")
    status, out, err = _recsys_run(source, tmp_path / "runs", *SMALL)
    assert "Trainer COMPLETE" in err, err[-3000:]
    report = json.loads(out)
    assert report["components"]["ExampleValidator"] == "COMPLETE"
    assert report["blessed"] is True and report["metrics"]["auc"] > 0.6, report
    config = load_config(None, [f"pipeline.output_dir={tmp_path / 'runs'}"])
    assert len(_versions(RunPaths.from_config(config).serving_dir)) == 1
    assert status in (0, 1)  # 1: the retriever's own gate, not what this test is about


def test_drifted_data_stops_before_training_naming_the_feature(tmp_path):
    source = movielens_fixture.write(str(tmp_path / "ml-latest-small"), "ml-latest")
    path = os.path.join(source, "ratings.csv")
    with open(path) as fh:
        header, *rows = fh.read().splitlines()
    with open(path, "w") as fh:  # an export that switched to millisecond timestamps
        fh.write("\n".join([header] + [f"{r.rsplit(',', 1)[0]},{int(r.rsplit(',', 1)[1]) * 1000}"
                                       for r in rows]) + "\n")
    status, out, err = _recsys_run(source, tmp_path / "runs", *SMALL)
    assert status == 2 and out == "", err[-3000:]
    assert "error: the data does not match the curated schema" in err
    assert "feature 'timestamp': Out-of-range values" in err, err[-3000:]
    config = load_config(None, [f"pipeline.output_dir={tmp_path / 'runs'}"])
    paths = RunPaths.from_config(config)
    components = summarize(paths)["components"]
    assert components["ExampleValidator"] == "COMPLETE"
    assert not {"Transform", "Trainer", "RetrievalTrainer", "Pusher"} & set(components), components
    assert _versions(paths.serving_dir) == [] and _versions(paths.retrieval_serving_dir) == []
