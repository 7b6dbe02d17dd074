"""Pipeline benchmark: wall time of a cold (uncached) TFX run and the DCN-v2 ranker's TFMA metrics.

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

import recsys  # noqa: F401

from benchmarks.machine import stamp
from pipeline.local_runner import run
from recsys.config import REPO_ROOT, load_config

RESULTS = os.path.join(REPO_ROOT, "benchmarks", "results", "pipeline.json")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--movielens", default="", help="MovieLens directory; default: synthetic data")
    ap.add_argument("--set", action="append", default=[])
    args = ap.parse_args()
    out = tempfile.mkdtemp(prefix="bench-pipeline-")
    overrides = [f"pipeline.output_dir={out}"]
    if args.movielens:
        overrides += ["data.dataset=movielens", f"data.source={os.path.abspath(args.movielens)}"]
    config = load_config(os.path.join(REPO_ROOT, "configs", "default.toml"), overrides + args.set)
    try:
        report = run(config)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    name = os.path.basename(os.path.normpath(args.movielens)) if args.movielens else "synthetic-default"
    entry = {"wall_seconds": report["wall_seconds"], "blessed": report["blessed"],
             "metrics": report.get("metrics", {}), "config": {"data": config.to_dict()["data"],
                                                             "train": config.to_dict()["train"]},
             **stamp()}
    results = {}
    if os.path.exists(RESULTS):
        with open(RESULTS) as fh:
            results = json.load(fh)
    results[name] = entry
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    with open(RESULTS, "w") as fh:
        json.dump(results, fh, indent=2, sort_keys=True)
    print(json.dumps({name: entry}, indent=2))


if __name__ == "__main__":
    main()
