"""Does ``eval.gate_on_interval`` decide in a real pipeline? Three runs in one pipeline root, each
evaluated by TFMA's jackknife against the last blessed model:

  1. ``baseline``: a weak ranker (1 epoch); first run, so only the absolute thresholds apply;
  2. ``improved``: 3 epochs, a real improvement: expected blessed, its AUC change's 95% interval
     wholly above 0;
  3. ``reseeded``: the same settings as 2 with another seed, no real change: the point estimate
     passes ``max_auc_drop`` but the interval holds 0, so the interval gate refuses it.

  .venv/bin/python -m benchmarks.interval_gate --out /tmp/interval-gate

Tiny synthetic data (the e2e gating test's) so the three jackknife Evaluators take minutes, not
an hour. Results merge into benchmarks/results/intervals.json under ``gate/<step>``.
"""

import argparse
import json
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # Keras 2, before TensorFlow is imported
from benchmarks.intervals import RESULTS
from benchmarks.machine import record, stamp
from recsys.config import load_config
from recsys.evaluation import eval_result
from recsys.evaluation.interval_gate import gate_name
from recsys.pipeline.local_runner import run

SMALL = ["data.num_events=20000", "data.num_users=500", "data.num_items=300",
         "retrieval.enabled=false", "eval.confidence_intervals=jackknife", "eval.gate_on_interval=true"]
STEPS = (("baseline", ["train.epochs=1"]), ("improved", ["train.epochs=3"]),
         ("reseeded", ["train.epochs=3", "train.seed=43"]))


def decision(report: dict) -> dict:
    evaluation = eval_result.load(report["evaluation_uri"])
    overall = evaluation.slices[0]
    return {"blessed": report["blessed"], "auc": overall.metrics.get("auc"),
            "auc_change": overall.diffs.get("auc"),
            "auc_change_interval": list(overall.diff_intervals["auc"])
            if "auc" in overall.diff_intervals else None,
            "failures": evaluation.verdict.failures if evaluation.verdict else [],
            "gate_metric": gate_name("auc")}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True, help="the pipeline.output_dir of the three runs")
    args = ap.parse_args()
    entries = {}
    for step, overrides in STEPS:
        load_before = os.getloadavg()[1]
        report = run(load_config(None, [f"pipeline.output_dir={args.out}", *SMALL, *overrides]))
        entries[f"gate/{step}"] = {**decision(report), "overrides": SMALL + overrides,
                                   "wall_seconds": report["wall_seconds"],
                                   "load_average_5min": [load_before, os.getloadavg()[1]], **stamp()}
        record(RESULTS, {f"gate/{step}": entries[f"gate/{step}"]})  # each run as it ends
    print(json.dumps(entries, indent=2))


if __name__ == "__main__":
    main()
