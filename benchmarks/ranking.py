"""Ranking zoo benchmark on MovieLens-100K: every model x label mode x seed, through the Trainer.

  .venv/bin/python -m benchmarks.ranking --movielens ../shared/data/ml-100k

The TFX pipeline runs once (the benchmarks' temporal split, ``benchmarks/protocol.py``: the last
20% of time is eval, so no eval rating reaches a training history; Transform on Beam); then the
Trainer's own ``train_and_export`` trains each configuration on the transformed examples, so the
throughput is the Trainer's input pipeline + model, measured per epoch after the first (which also traces the graph and fills the cache).
Results: benchmarks/results/ranking_ml100k.json (mean and std over seeds).
"""

import argparse
import dataclasses
import json
import os
import statistics
import tempfile

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # Keras 2, before TensorFlow is imported

from benchmarks.machine import record, stamp
from benchmarks.protocol import SPLIT_OVERRIDES
from recsys.training.ranker import train_and_export
from recsys.evaluation.metadata import latest_output_uri, overrides
from recsys.pipeline.local_runner import RunPaths, run
from recsys.config import DEFAULT_CONFIG_PATH, REPO_ROOT, load_config
from recsys.features import FeatureConfig

RESULTS = os.path.join(REPO_ROOT, "benchmarks", "results", "ranking_ml100k.json")
METRICS = {"binary": ("auc", "logloss"), "regression": ("rmse",)}


def transform_output(movielens: str, work: str) -> tuple[str, str, FeatureConfig]:
    config = load_config(DEFAULT_CONFIG_PATH, [
        f"pipeline.output_dir={work}", *SPLIT_OVERRIDES, "data.dataset=movielens",
        f"data.source={movielens}",
        "train.epochs=1", "eval.auc_lower_bound=0"])
    run(config)
    store = RunPaths.from_config(config).metadata_path
    examples = latest_output_uri(store, "Transform", "Examples")
    graph = latest_output_uri(store, "Transform", "TransformGraph")
    return examples, graph, FeatureConfig.load(config.features_path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--movielens", required=True)
    ap.add_argument("--models", default="dcn")
    ap.add_argument("--label-modes", default="binary,regression")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "bench-ranking"))
    ap.add_argument("--set", action="append", default=[], help="section.key=value (a bare key=value: train.key)")
    ap.add_argument("--note", default="", help="stored with each entry, e.g. 'cores shared with other jobs'")
    ap.add_argument("--record-as", default="",
                    help="store under this key instead of the model's name (a variant of one model, "
                         "e.g. dcn_embedding16); needs exactly one --models")
    args = ap.parse_args()
    if args.record_as and "," in args.models:
        ap.error(f"--record-as {args.record_as!r} names one variant; got --models {args.models!r}")
    examples, graph, features = transform_output(os.path.abspath(args.movielens), args.work)
    base = load_config(DEFAULT_CONFIG_PATH,
                       overrides(args.set, "train")).train
    results = {}
    for model in args.models.split(","):
        for mode in args.label_modes.split(","):
            runs = []
            for seed in range(args.seeds):
                train = dataclasses.replace(base, model=model, label_mode=mode, seed=seed)
                r = train_and_export(
                    train_files=[os.path.join(examples, "Split-train", "*")],
                    eval_files=[os.path.join(examples, "Split-eval", "*")],
                    transform_output=graph, serving_model_dir=tempfile.mkdtemp(),
                    features=features, train=train)
                runs.append(r)
                print(model, mode, seed, json.dumps(r["eval"]), round(r["train_examples_per_second"]))
            entry = {"train_config": dataclasses.asdict(dataclasses.replace(base, model=model, label_mode=mode)),
                     "command": stamp()["command"], "date": stamp()["date"],
                     **({"note": args.note} if args.note else {})}
            # The label mode's metrics, and with multi-task training also the other head's
            # (recorded as aux_<metric>: the binary ranker's rating head, and vice versa).
            other = [m for ms in METRICS.values() for m in ms if m not in METRICS[mode] and m in runs[0]["eval"]]
            for m in METRICS[mode] + ("train_examples_per_second",) + tuple(other):
                vals = [r["eval"][m] if m in r["eval"] else r[m] for r in runs]
                key = f"aux_{m}" if m in other else m
                entry[key] = {"mean": statistics.mean(vals), "std": statistics.pstdev(vals), "runs": vals}
            results.setdefault(args.record_as or model, {})[mode] = entry
    models = {}
    if os.path.exists(RESULTS):  # keep the (model, label mode)s this run did not measure
        with open(RESULTS) as fh:
            models = json.load(fh).get("models", {})
    for model, modes in results.items():
        models[model] = {**models.get(model, {}), **modes}
    record(RESULTS, {"models": models, "seeds": args.seeds, **stamp(),
                     "data": "ml-100k, temporal split: the last 20% of time is eval (benchmarks/protocol.py)"})
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
