"""One pipeline root, a changed dataset and then a changed label mode: the Evaluator's baseline is
the last blessed model comparable with the run, or none.

1. synthetic data, binary ranker: blessed, pushed.
2. MovieLens-layout data, binary: the synthetic model parses raw features (``user_region``,
   ``item_brand``, ...) these examples do not have; offered as baseline, TFMA fails and the run
   crashes. It must be skipped and the new model judged by absolute thresholds only.
3. same data, rating regressor: the binary model outputs ``probability``, not a rating; TFMA would
   score it as a rating (RMSE against 1..5 stars) and gate on that. No baseline either.
4. the regressor's run again: now the previous regressor is comparable and is the baseline.

MovieLens-layout data (the only dataset with a rating) is generated here, small and learnable:
no MovieLens data is in the repository. Marked ``e2e``: four pipeline runs (about 5 minutes).
"""

import os

import numpy as np
import pytest

from recsys.data.movielens import ML100K_GENRES
from recsys.evaluation import eval_result
from recsys.pipeline.local_runner import run

pytestmark = pytest.mark.e2e


def write_ml100k(root: str, users: int = 300, movies: int = 200, per_user: int = 40,
                 seed: int = 0) -> str:
    """An ml-100k directory (u.data, u.user, u.item) whose ratings follow movie quality + user
    bias + noise, so a ranker learns AUC well above the 0.6 gate from the item id alone."""
    rng = np.random.default_rng(seed)
    os.makedirs(root, exist_ok=True)
    quality = rng.normal(0, 1, movies)
    bias = rng.normal(0, 0.4, users)
    rows, t = [], 880_000_000
    for u in range(users):
        for m in rng.choice(movies, per_user, replace=False):
            t += int(rng.integers(1, 600))
            r = int(np.clip(np.round(3.2 + quality[m] + bias[u] + rng.normal(0, 0.7)), 1, 5))
            rows.append(f"{u + 1}\t{m + 1}\t{r}\t{t}")
    with open(os.path.join(root, "u.data"), "w") as fh:
        fh.write("\n".join(rows) + "\n")
    with open(os.path.join(root, "u.user"), "w") as fh:
        fh.writelines(f"{u + 1}|{20 + u % 40}|{'MF'[u % 2]}|{('writer', 'other', 'artist')[u % 3]}|"
                      f"{10000 + u % 50}\n" for u in range(users))
    with open(os.path.join(root, "u.item"), "w", encoding="latin-1") as fh:
        for m in range(movies):
            flags = ["0"] * len(ML100K_GENRES)
            flags[1 + m % (len(ML100K_GENRES) - 1)] = "1"
            fh.write(f"{m + 1}|Movie {m + 1} (1995)|01-Jan-1995||http://x|{'|'.join(flags)}\n")
    return root


SMALL = ["train.epochs=2", "retrieval.enabled=false"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    from recsys.config import load_config

    source = write_ml100k(str(tmp_path_factory.mktemp("ml100k")))
    out = f"pipeline.output_dir={tmp_path_factory.mktemp('baseline')}"
    movielens = [out, *SMALL, "data.dataset=movielens", f"data.source={source}"]
    synthetic = run(load_config(None, [out, *SMALL, "data.num_events=20000", "data.num_users=500",
                                       "data.num_items=300"]))
    binary = run(load_config(None, [*movielens, "train.label_mode=binary"]))
    regression = load_config(None, [*movielens, "train.label_mode=regression"])
    return synthetic, binary, run(regression), run(regression)


def _completed(report):
    assert all(s in ("COMPLETE", "CACHED") for s in report["components"].values()), report["components"]
    return eval_result.load(report["evaluation_uri"])


def test_new_dataset_is_evaluated_without_the_other_datasets_model(runs):
    synthetic, binary, _, _ = runs
    assert synthetic["blessed"] is True and len(synthetic["pushed_versions"]) == 1
    evaluation = _completed(binary)
    assert evaluation.baseline is None
    # Judged by the absolute thresholds (AUC >= 0.6, example count) alone: blessed and pushed.
    assert binary["metrics"]["auc"] > 0.6
    assert binary["blessed"] is True and evaluation.verdict.passed is True
    assert len(binary["pushed_versions"]) == 2


def test_regressor_after_binary_model_is_evaluated_without_baseline_and_pushed(runs):
    _, binary, regression, _ = runs
    assert regression["components"]["Trainer"] == "COMPLETE"
    evaluation = _completed(regression)
    assert evaluation.baseline is None  # the binary model's probabilities are no rating
    assert evaluation.overall["root_mean_squared_error"] < 1.5
    assert regression["blessed"] is True and evaluation.verdict.passed is True
    assert len(regression["pushed_versions"]) == 3
    assert set(binary["pushed_versions"]) < set(regression["pushed_versions"])


def test_comparable_blessed_model_is_still_the_baseline(runs):
    _, _, regression, again = runs
    evaluation = _completed(again)
    # The Trainer's record of the regressor matches what the pipeline derives from the schema.
    assert evaluation.baseline is not None
    assert evaluation.baseline["root_mean_squared_error"] == pytest.approx(
        regression["metrics"]["root_mean_squared_error"], rel=1e-6)
    assert again["blessed"] is True
    assert again["pushed_versions"] == regression["pushed_versions"]  # same model: no new copy
