"""Pipeline benchmark: wall time of a cold (uncached) TFX run (ranker + retriever), the DCN-v2
ranker's TFMA metrics and the retriever's gate figures.

  .venv/bin/python -m benchmarks.pipeline                       # default synthetic data
  .venv/bin/python -m benchmarks.pipeline --movielens ../shared/data/ml-100k

Each run gets a fresh output directory, so nothing is served from the cache. Results are merged
into benchmarks/results/pipeline.json under the data set's name.
"""

import argparse
import json
import os
import shutil
import tempfile

import pandas as pd

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # Keras 2, before TensorFlow is imported
from benchmarks.machine import record, stamp
from recsys.data.canonical import read_tfrecords
from recsys.evaluation.metadata import latest_output_uri
from recsys.pipeline.local_runner import RunPaths, run
from recsys.config import DEFAULT_CONFIG_PATH, REPO_ROOT, load_config
from recsys.evaluation.metrics import auc

RESULTS = os.path.join(REPO_ROOT, "benchmarks", "results", "pipeline.json")


def popularity_auc(examples_uri: str, item_key: str = "item_id", label_key: str = "label") -> float:
    """The baseline a learned ranker must beat: each item's smoothed train-split positive rate,
    scored on ExampleGen's eval split (the very examples the Evaluator scored)."""
    def load(split):
        pattern = os.path.join(examples_uri, f"Split-{split}", "*")
        rows = [(r[item_key][0], r[label_key][0]) for r in read_tfrecords(pattern)]
        return pd.DataFrame(rows, columns=["item", "label"])

    train, test = load("train"), load("eval")
    prior, k = train.label.mean(), 10.0
    stats = train.groupby("item").label.agg(["sum", "count"])
    rate = (stats["sum"] + k * prior) / (stats["count"] + k)
    scores = test.item.map(rate).fillna(prior).to_numpy()
    return auc(test.label.to_numpy(), scores)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--movielens", default="", help="MovieLens directory; default: synthetic data")
    ap.add_argument("--set", action="append", default=[])
    args = ap.parse_args()
    out = tempfile.mkdtemp(prefix="bench-pipeline-")
    overrides = [f"pipeline.output_dir={out}"]
    if args.movielens:
        overrides += ["data.dataset=movielens", f"data.source={os.path.abspath(args.movielens)}"]
    config = load_config(DEFAULT_CONFIG_PATH, overrides + args.set)
    try:
        report = run(config)
        examples = latest_output_uri(RunPaths.from_config(config).metadata_path, "ImportExampleGen", "Examples")
        report["metrics"]["popularity_auc"] = popularity_auc(examples)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    name = os.path.basename(os.path.normpath(args.movielens)) if args.movielens else "synthetic-default"
    entry = {"wall_seconds": report["wall_seconds"], "blessed": report["blessed"],
             "metrics": report.get("metrics", {}), "retrieval": {k: v for k, v in report.get("retrieval", {}).items()
                           if k in ("blessed", "metrics", "popularity_baseline")},
             "config": {k: config.to_dict()[k] for k in ("data", "train", "retrieval")},
             **stamp()}
    record(RESULTS, {name: entry})
    print(json.dumps({name: entry}, indent=2))


if __name__ == "__main__":
    main()
