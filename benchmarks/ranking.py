"""Ranking zoo benchmark on MovieLens-100K: every model x label mode x seed, through the Trainer.

  .venv/bin/python -m benchmarks.ranking --movielens ../shared/data/ml-100k

The TFX pipeline runs once (the benchmarks' temporal split, ``benchmarks/protocol.py``: the last
20% of time is eval, so no eval rating reaches a training history; Transform on Beam); then the
Trainer's own ``train_and_export`` trains each configuration on the transformed examples, so the
throughput is the Trainer's input pipeline + model, measured per epoch after the first (which also traces the graph and fills the cache).
Results: benchmarks/results/ranking_ml100k.json (mean and std over seeds).

``--sweep`` chooses each model's settings on validation, not on the eval split: the last
``--val-fraction`` (20%) of the training split by time is held out as the validation part
(``benchmarks.protocol.carve_validation``, the eval split's temporal cut applied again inside the
training split, so validation histories never reach the fit part either), each point of the
grid (``--grid``, default embedding_dim x embedding_l2) is trained on the rest with seed 0 in
binary mode, and the point with the best validation AUC is then trained on the whole training split
for every seed and label mode and reported on the eval split once. The grid and every point's
validation AUC are recorded with the entry (``"chosen_on_validation"``).

``--models bias`` is the pure user + item bias model, ``b + b_u + b_i`` (the ``id_bias`` block on
its own, no embeddings or interaction): the baseline NeuMF must beat.
"""

import argparse
import dataclasses
import itertools
import json
import os
import statistics
import tempfile
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # Keras 2, before TensorFlow is imported

from benchmarks.machine import record, stamp
from benchmarks.protocol import SPLIT_OVERRIDES, VALIDATION_FRACTION, carve_validation, timestamps_by_pair
from recsys.training.ranker import train_and_export
from recsys.evaluation.metadata import latest_output_uri, overrides
from recsys.pipeline.local_runner import RunPaths, run
from recsys.config import DEFAULT_CONFIG_PATH, REPO_ROOT, load_config, _coerce
from recsys.features import FeatureConfig

RESULTS = os.path.join(REPO_ROOT, "benchmarks", "results", "ranking_ml100k.json")
METRICS = {"binary": ("auc", "logloss"), "regression": ("rmse",)}
GRID = "embedding_dim=16,32;embedding_l2=0.001,0.0001"  # the documented default sweep
BIAS_GRID = "id_bias_l2=0.0001,0.00001"  # the bias model has no embeddings: its own L2 only


def grid_points(grid: str, base) -> list[dict]:
    """``"a=1,2;b=x,y"`` -> every combination as {key: typed value} of the train config."""
    import typing

    hints = typing.get_type_hints(type(base), include_extras=True)
    axes = []
    for axis in filter(None, grid.split(";")):
        key, _, values = axis.partition("=")
        key = key.strip()
        if key not in hints:
            raise ValueError(f"--grid axis {key!r}; expected a train key, one of {sorted(hints)}")
        axes.append([(key, _coerce(f"train.{key}", v.strip(), hints[key])) for v in values.split(",")])
    return [dict(point) for point in itertools.product(*axes)]


def train_bias_model(train_files, eval_files, graph: str, features: FeatureConfig, train) -> dict:
    """The pure bias model ``b + b_u + b_i``: the factory's ``id_bias`` block alone, fitted like a
    ranker (same input pipeline, Adam, epochs, loss and metrics). Hand-assembled because it is a
    baseline, not a ranker a user would serve."""
    import tensorflow as tf
    import tensorflow_recommenders as tfrs
    import tensorflow_transform as tft

    from recsys.models.factory import _id_bias
    from recsys.models.ranking import make_task
    from recsys.training.optimizers import build_optimizer, finalize_weight_averages
    from recsys.training.ranker import EpochTimer, fit_summary, make_dataset

    tf.keras.utils.set_random_seed(train.seed)
    tft_out = tft.TFTransformOutput(graph)
    train = dataclasses.replace(train, aux_weight=0.0)  # one label

    class BiasModel(tfrs.models.Model):
        def __init__(self):
            super().__init__()
            self.wide = None  # build_optimizer's question: no FTRL part
            self.bias = _id_bias(train, features, features.vocabulary_sizes(tft_out))
            self.task = make_task(train.label_mode)

        def call(self, x, training=False):
            return self.bias(x)

        def compute_loss(self, inputs, training=False):
            x, y = inputs
            return self.task(labels=tf.reshape(y, [-1, 1]), predictions=self(x, training=training))

    model = BiasModel()
    train_ds = make_dataset(train_files, tft_out, features, train, training=True)
    examples = sum(int(tf.shape(y)[0]) for _, y in train_ds)
    # The rankers' optimizer (Adam, schedule, weight EMA), so only the model differs.
    model.compile(optimizer=build_optimizer(model, train, -(-examples // train.batch_size)))
    timer = EpochTimer()
    history = model.fit(train_ds, epochs=train.epochs, callbacks=[timer], verbose=0)
    finalize_weight_averages(model.optimizer)
    metrics = model.evaluate(make_dataset(eval_files, tft_out, features, train, training=False),
                             return_dict=True, verbose=0)
    return {"eval": {k: float(v) for k, v in metrics.items()}, **fit_summary(history, timer, examples)}


def fit_and_score(model: str, train_files, eval_files, graph: str, features, train,
                  export: bool = True) -> dict:
    """Train and score one configuration; ``export=False`` skips the SavedModel the Trainer writes
    (about a minute per training on a loaded 2-core machine; metrics and examples/s are the same
    code path up to the export). Not for a blend, which only the Trainer path assembles."""
    if model == "bias":
        return train_bias_model(train_files, eval_files, graph, features,
                                dataclasses.replace(train, id_bias=True))
    if not export and not train.neighbourhood_blend:
        import tensorflow as tf
        import tensorflow_transform as tft

        from recsys.training.ranker import _fit_ranker, make_dataset

        tf.keras.utils.set_random_seed(train.seed)
        tft_out = tft.TFTransformOutput(graph)
        fitted, summary = _fit_ranker(make_dataset(train_files, tft_out, features, train, training=True),
                                      tft_out, features, train)
        metrics = fitted.evaluate(make_dataset(eval_files, tft_out, features, train, training=False),
                                  return_dict=True, verbose=0)
        return {"eval": {k: float(v) for k, v in metrics.items()}, **summary}
    return train_and_export(train_files=train_files, eval_files=eval_files, transform_output=graph,
                            serving_model_dir=tempfile.mkdtemp(), features=features, train=train)


def sweep(model: str, base, points: list[dict], fit: str, val: str, graph: str, features,
          export: bool = True) -> dict:
    """Each grid point trained on ``fit`` (seed 0, binary), scored on ``val``; the best by AUC."""
    tried = []
    for point in points:
        train = dataclasses.replace(base, model=model if model != "bias" else base.model,
                                    label_mode="binary", seed=0, **point)
        start = time.time()
        r = fit_and_score(model, [fit], [val], graph, features, train, export)
        tried.append({"settings": point, "validation_auc": r["eval"]["auc"],
                      "seconds": round(time.time() - start, 1)})
        print("sweep", model, json.dumps(point), round(r["eval"]["auc"], 4), flush=True)
    best = max(tried, key=lambda t: t["validation_auc"])
    return {"grid": tried, "chosen": best["settings"]}


def transform_output(movielens: str, work: str, reuse: bool = False) -> tuple[str, str, FeatureConfig, str]:
    config = load_config(DEFAULT_CONFIG_PATH, [
        f"pipeline.output_dir={work}", *SPLIT_OVERRIDES, "data.dataset=movielens",
        f"data.source={movielens}",
        # Only the Transform output is used: the retriever would add a Trainer and an evaluation.
        "train.epochs=1", "eval.auc_lower_bound=0", "retrieval.enabled=false"])
    if not reuse:
        run(config)
    store = RunPaths.from_config(config).metadata_path
    examples = latest_output_uri(store, "Transform", "Examples")
    graph = latest_output_uri(store, "Transform", "TransformGraph")
    raw = latest_output_uri(store, "ImportExampleGen", "Examples")
    return examples, graph, FeatureConfig.load(config.features_path), raw


def _record(results: dict, seeds: int) -> None:
    models = {}
    if os.path.exists(RESULTS):  # keep the (model, label mode)s this run did not measure
        with open(RESULTS) as fh:
            models = json.load(fh).get("models", {})
    for model, modes in results.items():
        models[model] = {**models.get(model, {}), **modes}
    record(RESULTS, {"models": models, "seeds": seeds, **stamp(),
                     "data": "ml-100k, temporal split: the last 20% of time is eval (benchmarks/protocol.py)"})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--movielens", required=True)
    ap.add_argument("--models", default="dcn")
    ap.add_argument("--label-modes", default="binary,regression")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "bench-ranking"))
    ap.add_argument("--set", action="append", default=[], help="section.key=value (a bare key=value: train.key)")
    ap.add_argument("--note", default="", help="stored with each entry, e.g. 'cores shared with other jobs'")
    ap.add_argument("--sweep", action="store_true",
                    help="choose each model's settings on a validation part of the training split")
    ap.add_argument("--grid", default="", help=f"the sweep's grid, 'key=v1,v2;key=...' (default {GRID}; "
                                                f"the bias model: {BIAS_GRID})")
    ap.add_argument("--val-fraction", type=float, default=VALIDATION_FRACTION,
                    help="the latest part of the training split by time that is validation")
    ap.add_argument("--reuse-transform", action="store_true",
                    help="take the Transform output an earlier run left in --work instead of running "
                         "the pipeline (a code change re-runs it, minutes on a busy machine)")
    ap.add_argument("--record-as", default="",
                    help="store under this key instead of the model's name (a variant of one model, "
                         "e.g. dcn_embedding16); needs exactly one --models")
    ap.add_argument("--no-export", action="store_true",
                    help="train and score without writing the SavedModel (saves ~1 min a training "
                         "on a loaded machine; the figures are the same code path)")
    args = ap.parse_args()
    if args.record_as and "," in args.models:
        ap.error(f"--record-as {args.record_as!r} names one variant; got --models {args.models!r}")
    examples, graph, features, raw = transform_output(os.path.abspath(args.movielens), args.work,
                                                 args.reuse_transform)
    base = load_config(DEFAULT_CONFIG_PATH,
                       overrides(args.set, "train")).train
    train_files = [os.path.join(examples, "Split-train", "*")]
    eval_files = [os.path.join(examples, "Split-eval", "*")]
    if args.sweep:
        # Temporal, like the eval split: with an every-n-th carve a validation rating sits in the
        # histories of the user's later fit examples, the leak the temporal eval split removes.
        # ML-100K's transformed examples carry no time: it comes from the raw split by (user, movie).
        fit, val = carve_validation(train_files[0], os.path.join(args.work, "carve"),
                                    features.timestamp_key, args.val_fraction,
                                    timestamps_by_pair(os.path.join(raw, "Split-train", "*"),
                                                       features.user_key, features.item_key,
                                                       features.timestamp_key))
    results = {}
    for model in args.models.split(","):
        chosen, model_base = {}, base
        if args.sweep:
            chosen = sweep(model, base, grid_points(args.grid or (BIAS_GRID if model == "bias" else GRID), base),
                           fit, val, graph, features, not args.no_export)
            model_base = dataclasses.replace(base, **chosen["chosen"])
        for mode in args.label_modes.split(","):
            runs = []
            for seed in range(args.seeds):
                train = dataclasses.replace(model_base, model=model if model != "bias" else base.model,
                                            label_mode=mode, seed=seed)
                r = fit_and_score(model, train_files, eval_files, graph, features, train, not args.no_export)
                runs.append(r)
                print(model, mode, seed, json.dumps(r["eval"]), round(r["train_examples_per_second"]), flush=True)
            entry = {"train_config": dataclasses.asdict(dataclasses.replace(model_base, model=model, label_mode=mode)),
                     "command": stamp()["command"], "date": stamp()["date"], "seeds": args.seeds,
                     **({"chosen_on_validation": {**chosen, "validation": f"the last {args.val_fraction:.0%} of "
                                                  "the training split by time, binary, seed 0"}} if chosen else {}),
                     **({"note": args.note} if args.note else {})}
            # The label mode's metrics, and with multi-task training also the other head's
            # (recorded as aux_<metric>: the binary ranker's rating head, and vice versa).
            other = [m for ms in METRICS.values() for m in ms if m not in METRICS[mode] and m in runs[0]["eval"]]
            for m in METRICS[mode] + ("train_examples_per_second",) + tuple(other):
                vals = [r["eval"][m] if m in r["eval"] else r[m] for r in runs]
                key = f"aux_{m}" if m in other else m
                entry[key] = {"mean": statistics.mean(vals), "std": statistics.pstdev(vals), "runs": vals}
            results.setdefault(args.record_as or model, {})[mode] = entry
            _record(results, args.seeds)  # after each entry: a long run keeps what it measured
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
