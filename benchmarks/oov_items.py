"""Cold-item benchmark: where an item the ranker never saw in training lands in a user's list.

  .venv/bin/recsys run --set pipeline.output_dir=/tmp/run      # a pipeline run (any config)
  .venv/bin/python -m benchmarks.oov_items --run-dir /tmp/run --label after

Reads the run's newest Trainer model (its serving signature: raw tf.Examples in, as TF Serving
is called) and ExampleGen's eval split, through the MLMD reader. Two measures:

* natural cold items: eval examples whose item is not in the train split (often none on the
  synthetic data), their mean probability beside the known items';
* counterfactual cold items: every sampled eval example scored twice, as it is and with its item
  id replaced by an id no split contains (its other features, category/brand/price, kept: a new
  item with known attributes). For users with at least ``--min-list`` eval examples, the cold
  item's rank percentile among the user's known items (share of them scored below it: 0.5 is a
  typical item, 1.0 the top of the list) and how often it tops the list.

Also the model's AUC on the whole eval split (the same examples the Evaluator scores), so a fix
for cold items can be checked for what it costs on known ones; ``--seeds N`` retrains the ranker
on the run's Transform output N times with and without OOV training, to tell that from seed noise.
Merged into
``benchmarks/results/reliability.json`` under ``"oov_items"`` -> ``--label`` (other keys kept).
"""

from __future__ import annotations

import argparse
import json
import os

import numpy as np

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # Keras 2, before TensorFlow is imported
from benchmarks.machine import record, stamp  # noqa: E402
from recsys.config import DEFAULT_CONFIG_PATH, REPO_ROOT, load_config  # noqa: E402
from recsys.evaluation.metadata import latest_output_uri  # noqa: E402
from recsys.evaluation.metrics import auc  # noqa: E402
from recsys.features import FeatureConfig  # noqa: E402

RESULTS = os.path.join(REPO_ROOT, "benchmarks", "results", "reliability.json")
KEY = "oov_items"


def read_split(examples_uri: str, split: str) -> list[bytes]:
    import tensorflow as tf

    files = tf.io.gfile.glob(os.path.join(examples_uri, f"Split-{split}", "*"))
    if not files:
        raise FileNotFoundError(f"no examples in split {split!r} under {examples_uri}")
    return [r.numpy() for r in tf.data.TFRecordDataset(files, compression_type="GZIP")]


def _value(example, key: str):
    f = example.features.feature[key]
    kind = f.WhichOneof("kind")
    v = getattr(f, kind).value[0] if kind else None
    return v.decode() if isinstance(v, bytes) else v


def with_item(serialized: bytes, item_key: str, item: str) -> bytes:
    import tensorflow as tf

    ex = tf.train.Example.FromString(serialized)
    ex.features.feature[item_key].bytes_list.value[:] = [item.encode()]
    return ex.SerializeToString()


def score(model, examples: list[bytes], output: str, batch: int = 1024) -> np.ndarray:
    import tensorflow as tf

    serve = model.signatures["serving_default"]
    return np.concatenate([serve(examples=tf.constant(examples[i:i + batch]))[output].numpy().ravel()
                           for i in range(0, len(examples), batch)]) if examples else np.zeros(0)


def rank_percentiles(users: list[str], known: np.ndarray, cold: np.ndarray, min_list: int
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Per example of a user with >= ``min_list`` examples: the share of that user's known
    items scored strictly below its cold twin (ties count one half), and whether it tops them."""
    by_user: dict[str, list[int]] = {}
    for i, u in enumerate(users):
        by_user.setdefault(u, []).append(i)
    pct, top = [], []
    for rows in by_user.values():
        if len(rows) < min_list:
            continue
        scores = known[rows]
        for i in rows:
            below = (scores < cold[i]).sum() + 0.5 * (scores == cold[i]).sum()
            pct.append(below / len(scores))
            top.append(cold[i] > scores.max())
    return np.asarray(pct), np.asarray(top)


def measure(model_dir: str, examples_uri: str, features: FeatureConfig, sample: int,
            min_list: int, seed: int) -> dict:
    import tensorflow as tf

    from recsys.models.export import PREDICTION_KEYS

    output = PREDICTION_KEYS["binary"]
    model = tf.saved_model.load(model_dir)
    train_items = {_value(tf.train.Example.FromString(r), features.item_key)
                   for r in read_split(examples_uri, "train")}
    eval_rows = read_split(examples_uri, "eval")
    parsed = [tf.train.Example.FromString(r) for r in eval_rows]
    labels = np.array([_value(p, features.label) or 0 for p in parsed]) > 0
    items = [_value(p, features.item_key) for p in parsed]
    scores = score(model, eval_rows, output)
    natural = np.array([i not in train_items for i in items])

    # Counterfactual twins of a sample of users' whole eval lists (so each list is complete).
    users = [_value(p, features.user_key) for p in parsed]
    rng = np.random.default_rng(seed)
    pool = sorted(set(users))
    chosen = set(rng.choice(pool, size=min(sample, len(pool)), replace=False))
    idx = [i for i, u in enumerate(users) if u in chosen]
    cold_rows = [with_item(eval_rows[i], features.item_key, f"__unseen_item_{n}") for n, i in enumerate(idx)]
    cold = score(model, cold_rows, output)
    pct, top = rank_percentiles([users[i] for i in idx], scores[idx], cold, min_list)
    return {
        "model": model_dir, "examples": examples_uri,
        "eval_examples": int(len(eval_rows)), "eval_auc": auc(labels, scores),
        "known_items": {"examples": int((~natural).sum()),
                        "mean_probability": float(scores[~natural].mean()),
                        "median_probability": float(np.median(scores[~natural]))},
        "natural_cold_items": {"examples": int(natural.sum()),
                               "mean_probability": float(scores[natural].mean()) if natural.any() else None},
        "counterfactual_cold_items": {
            "users": len(chosen), "examples": len(idx),
            "mean_probability": float(cold.mean()), "median_probability": float(np.median(cold)),
            "mean_probability_of_the_same_examples_known": float(scores[idx].mean()),
            # paired: the same example, its real item vs. an unseen id with the same attributes
            "share_scored_above_their_known_item": float((cold > scores[idx]).mean()),
            "p99_probability_gain_over_known_item": float(np.quantile(cold - scores[idx], 0.99)),
            "examples_ranked": int(len(pct)), "min_list": min_list,
            "mean_rank_percentile": float(pct.mean()) if len(pct) else None,
            "share_ranked_above_every_known_item": float(top.mean()) if len(top) else None},
    }


def by_seed(metadata: str, examples: str, features: FeatureConfig, train, seeds: int, args) -> dict:
    """The ranker retrained on the run's Transform output for ``seeds`` seeds, without OOV
    training (``oov_dropout = 0``, as before it existed) and with the config's rate: eval AUC
    and the cold-item figures of each model, so a difference can be told from seed noise."""
    import dataclasses
    import statistics
    import tempfile

    from recsys.training.ranker import train_and_export

    transformed = latest_output_uri(metadata, "Transform", "Examples")
    graph = latest_output_uri(metadata, "Transform", "TransformGraph")
    out = {}
    for rate in (0.0, train.oov_dropout):
        runs = []
        for seed in range(seeds):
            model_dir = tempfile.mkdtemp(prefix="bench-oov-")
            train_and_export(train_files=[os.path.join(transformed, "Split-train", "*")],
                             eval_files=[os.path.join(transformed, "Split-eval", "*")],
                             transform_output=graph, serving_model_dir=model_dir, features=features,
                             train=dataclasses.replace(train, oov_dropout=rate, seed=seed))
            m = measure(model_dir, examples, features, args.sample, args.min_list, args.seed)
            runs.append({"seed": seed, "eval_auc": m["eval_auc"], **{
                k: m["counterfactual_cold_items"][k] for k in (
                    "mean_rank_percentile", "share_ranked_above_every_known_item",
                    "share_scored_above_their_known_item", "p99_probability_gain_over_known_item")}})
            print(rate, json.dumps(runs[-1]), flush=True)
        out[f"oov_dropout={rate}"] = {k: {"mean": statistics.mean(r[k] for r in runs),
                                          "std": statistics.pstdev(r[k] for r in runs)}
                                      for k in runs[0] if k != "seed"} | {"runs": runs}
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--run-dir", required=True, help="a pipeline run's pipeline.output_dir")
    ap.add_argument("--label", required=True, help="key under oov_items, e.g. before / after")
    ap.add_argument("--set", action="append", default=[], help="config overrides of that run")
    ap.add_argument("--sample", type=int, default=300, help="users whose lists get cold twins")
    ap.add_argument("--min-list", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--note", default="")
    ap.add_argument("--seeds", type=int, default=0,
                    help="also retrain the ranker on the run's Transform output for this many seeds, "
                         "with and without OOV training (AUC and cold-item figures per seed)")
    args = ap.parse_args()
    from recsys.pipeline.local_runner import RunPaths
    from tfx.utils import path_utils

    config = load_config(DEFAULT_CONFIG_PATH, [f"pipeline.output_dir={args.run_dir}"] + args.set)
    metadata = RunPaths.from_config(config).metadata_path
    model_dir = path_utils.serving_model_path(latest_output_uri(metadata, "Trainer", "Model"))
    examples = latest_output_uri(metadata, "ImportExampleGen", "Examples")
    result = {**stamp(), **measure(model_dir, examples, FeatureConfig.load(config.features_path),
                                   args.sample, args.min_list, args.seed)}
    if args.seeds:
        result["by_seed"] = by_seed(metadata, examples, FeatureConfig.load(config.features_path),
                                    config.train, args.seeds, args)
    if args.note:
        result["note"] = args.note
    existing = {}
    if os.path.exists(RESULTS):
        with open(RESULTS) as fh:
            existing = json.load(fh).get(KEY, {})
    record(RESULTS, {KEY: {**existing, args.label: result}})
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
