"""The rankers on the default synthetic log, temporal split, against the world's own ground truth.

  .venv/bin/python -m benchmarks.synthetic_headroom --models dcn,wide_deep,din
  .venv/bin/python -m benchmarks.synthetic_headroom --drop-features item_listed,history_category \
      --record-as without_freshness      # the feature ablation: the same data, fewer model inputs

Protocol (``benchmarks/protocol.py``): the pipeline runs once on the default synthetic data with
``data.split=temporal`` (the last 20% of time is eval). Per model, each ``--grid`` setting is
trained on the first 80% of the training split by time and scored on the rest (the validation
carve); the best validation AUC is refitted on the whole training split through the Trainer's
``train_and_export`` and scored once on the eval split through its ``serving_default`` signature
on the raw eval tf.Examples. Beside the rankers, on the same eval examples:

* popularity: each item's smoothed training-split click rate,
* the hand logistic regression (``benchmarks/hand_regression.py``) fitted on the training split,
* the oracle: the hidden world's own P(click) (``World.click_probability``), the ceiling.

AUC and GAUC (impression-weighted per-user AUC, ``evaluation/metrics.gauc``) for each; the targets
of issue 12: best ranker >= hand regression + 0.02 AUC, and more than half of the way from
popularity to the oracle (``share_of_headroom``). Per ranker, ``oracle_term_fit`` regresses its
eval logits on the oracle's terms (``benchmarks/oracle_terms.py``): which term it misses. Results: benchmarks/results/ranking_synthetic.json.
"""

import argparse
import dataclasses
import glob
import json
import os
import tempfile

import numpy as np

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # Keras 2, before TensorFlow is imported
import tensorflow as tf

from benchmarks.hand_regression import hand_regression_scores
from benchmarks.machine import record, stamp
from benchmarks.oracle_terms import oracle_terms, term_fit
from benchmarks.protocol import SPLIT_OVERRIDES, carve_validation
from benchmarks.ranking_headroom import ranker_logits
from recsys.config import DEFAULT_CONFIG_PATH, REPO_ROOT, load_config
from recsys.data.prepare import synthetic_config
from recsys.data.synthetic import World, generate, temporal_cutoff
from recsys.evaluation.metadata import latest_output_uri, overrides
from recsys.evaluation.metrics import auc, gauc
from recsys.features import FeatureConfig
from recsys.pipeline.local_runner import RunPaths, run
from recsys.training.ranker import train_and_export

RESULTS = os.path.join(REPO_ROOT, "benchmarks", "results", "ranking_synthetic.json")
GRID = ("epochs=2", "epochs=4")  # per model; each a comma-separated list of train.key=value


def pipeline_outputs(work: str, features_path: str, extra: list[str], reuse: bool = False):
    config = load_config(DEFAULT_CONFIG_PATH, [
        f"pipeline.output_dir={work}", *SPLIT_OVERRIDES, f"data.features={features_path}",
        "train.epochs=1", "retrieval.enabled=false", "eval.auc_lower_bound=0", *extra])
    if not reuse:  # a cached re-run still re-runs the Evaluator: minutes on a busy machine
        run(config)
    store = RunPaths.from_config(config).metadata_path
    return (latest_output_uri(store, "ImportExampleGen", "Examples"),
            latest_output_uri(store, "Transform", "Examples"),
            latest_output_uri(store, "Transform", "TransformGraph"), config)


def reduced_features(path: str, drop: list[str], out: str) -> str:
    """A copy of the feature config at ``path`` without the ``[[feature]]`` entries ``drop`` (an
    ablation); text-level, since there is no TOML writer in the lock file."""
    import re

    text = open(path).read()
    blocks = re.split(r"(?m)^(?=\[\[|\n# )", text)
    named = {b: re.search(r'(?m)^name = "([^"]+)"', b) for b in blocks if b.startswith("[[feature]]")}
    found = {m.group(1) for m in named.values() if m}
    if set(drop) - found:
        raise ValueError(f"--drop-features {sorted(set(drop) - found)}: not features of {path}")
    kept = [b for b in blocks if not (b in named and named[b].group(1) in drop)]
    with open(out, "w") as fh:
        fh.write("".join(kept))
    FeatureConfig.load(out)  # still a valid feature config
    return out


def setting_features(features: FeatureConfig, setting: str) -> tuple[FeatureConfig, list[str]]:
    """A ``--grid`` setting's feature config and its ``train.key=value`` overrides.

    ``embed_crosses=<cross>+<cross>`` (or ``none``) in a setting says which ``[[cross]]`` entries
    are embedded fields of the ranker (``FeatureCross.embed``), overriding the feature config's
    own choice; ``cross_l2=<float>`` sets every cross table's own L2 (``FeatureCross.l2``);
    ``without=<feature>+<feature>`` leaves features out of the model's inputs (an ablation on the
    same carve, unlike ``--drop-features``, which needs its own pipeline run). A model-side
    choice: Transform computes every cross and feature whether the model reads it or not, so with
    and without compare on one pipeline run, one carve and one Transform."""
    keys = setting.split(",")
    feature_keys = ("embed_crosses=", "cross_l2=", "without=")
    chosen = [k.split("=", 1)[1] for k in keys if k.startswith("embed_crosses=")]
    l2s = [k.split("=", 1)[1] for k in keys if k.startswith("cross_l2=")]
    without = [k.split("=", 1)[1] for k in keys if k.startswith("without=")]
    if without:  # ``without=<feature>+<feature>``: model inputs left out, Transform unchanged
        names = set(without[-1].split("+"))
        known = {f.name for f in features.features}
        if names - known:
            raise ValueError(f"--grid {setting!r}: without names {sorted(names - known)}; "
                             f"expected '+'-joined features of the feature config {sorted(known)}")
        features = dataclasses.replace(
            features, features=tuple(f for f in features.features if f.name not in names))
    if not chosen and not l2s:
        return features, [k for k in keys if not k.startswith(feature_keys)]
    crosses = features.crosses
    if chosen:
        names = set() if chosen[-1] == "none" else set(chosen[-1].split("+"))
        known = {c.name for c in features.crosses}
        if names - known:
            raise ValueError(f"--grid {setting!r}: embed_crosses names {sorted(names - known)}; "
                             f"expected '+'-joined crosses of the feature config {sorted(known)} or 'none'")
        crosses = tuple(dataclasses.replace(c, embed=c.name in names) for c in crosses)
    if l2s:  # ``cross_l2=<float>``: every cross table's own L2 (``FeatureCross.l2``)
        try:
            l2 = float(l2s[-1])
        except ValueError:
            raise ValueError(f"--grid {setting!r}: cross_l2 = {l2s[-1]!r}; expected a number >= 0") from None
        crosses = tuple(dataclasses.replace(c, l2=l2) for c in crosses)
    return (dataclasses.replace(features, crosses=crosses),
            [k for k in keys if not k.startswith(feature_keys)])


def raw_eval(raw_examples: str) -> tuple[list[bytes], list[str]]:
    files = sorted(glob.glob(os.path.join(raw_examples, "Split-eval", "*")))
    rows = list(tf.data.TFRecordDataset(files, compression_type="GZIP").as_numpy_iterator())
    ids = [tf.train.Example.FromString(r).features.feature["example_id"].bytes_list.value[0].decode()
           for r in rows]
    return rows, ids


def baselines(config) -> tuple[dict, dict[str, np.ndarray]]:
    """Per example id: label, user, the oracle's terms (``benchmarks/oracle_terms``), and the
    scores of popularity, the hand regression, the oracle."""
    sc = synthetic_config(config)
    world = World.build(sc)
    recs = list(generate(sc, world))
    ts = np.array([r["timestamp"] for r in recs])
    train = ts < temporal_cutoff(sc, 1 - config.data.eval_fraction)  # data/prepare.py's cut
    y = np.array([r["label"] for r in recs], float)
    items = np.array([int(r["item_id"][1:]) for r in recs])
    users = np.array([int(r["user_id"][1:]) for r in recs])
    clicks = np.bincount(items[train], y[train], minlength=sc.num_items)
    shows = np.bincount(items[train], minlength=sc.num_items)
    scores = {"popularity": ((clicks + 20 * y[train].mean()) / (shows + 20))[items],
              "hand_regression": hand_regression_scores(recs, train),
              **({"hand_regression_with_item_ctr": hand_regression_scores(recs, train, ("item_ctr",))}
                 if sc.item_counters else {}),  # the bar's regression given what the rankers get
              "oracle": world.click_probability(users, items, ts)}
    index = {r["example_id"]: j for j, r in enumerate(recs)}
    return {"index": index, "label": y, "user": users, "train": train,
            "terms": oracle_terms(world, users, items, ts)}, scores


def metrics(y, s, users) -> dict:
    return {"auc": auc(y, s), "gauc": gauc(y, s, users)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="dcn,wide_deep,din")
    ap.add_argument("--grid", action="append", default=[],
                    help=f"a setting to choose among on validation, e.g. 'epochs=2,embedding_l2=1e-5' "
                         f"(repeat; default {list(GRID)}); 'embed_crosses=<cross>+...|none' picks "
                         f"the embedded [[cross]] entries")
    ap.add_argument("--drop-features", default="", help="comma-separated features to leave out")
    ap.add_argument("--record-as", default="with_freshness")
    ap.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "bench-synthetic"))
    ap.add_argument("--set", action="append", default=[], help="section.key=value for the pipeline run")
    ap.add_argument("--reuse-pipeline", action="store_true",
                    help="take the outputs of an earlier run in --work (same --set), run no pipeline")
    ap.add_argument("--validation-only", action="store_true",
                    help="score the grid on the validation carve only: no refit, eval not scored "
                         "(decide first whether a change is worth its one eval run)")
    args = ap.parse_args()
    features_path = load_config(DEFAULT_CONFIG_PATH, args.set).features_path  # e.g. data.sessions
    if args.drop_features:
        os.makedirs(args.work, exist_ok=True)
        features_path = reduced_features(features_path, args.drop_features.split(","),
                                         os.path.join(args.work, "features.toml"))
    raw, examples, graph, config = pipeline_outputs(args.work, features_path, args.set,
                                                  args.reuse_pipeline)
    features = FeatureConfig.load(config.features_path)
    data, scores = baselines(config)
    serialized, ids = raw_eval(raw)
    rows = np.array([data["index"][i] for i in ids])
    y, users = data["label"][rows], data["user"][rows]
    assert not data["train"][rows].any(), "eval examples must be after the temporal cutoff"
    results = {name: metrics(y, s[rows], users) for name, s in scores.items()}
    print(json.dumps(results), flush=True)
    fit, validation = carve_validation(os.path.join(examples, "Split-train", "*"),
                                       os.path.join(args.work, "carve"), features.timestamp_key)
    grid = args.grid or list(GRID)
    for model in args.models.split(","):
        sweep = {}
        for setting in grid if len(grid) > 1 else ():  # one setting: nothing to choose
            feats, keys = setting_features(features, setting)
            train = load_config(DEFAULT_CONFIG_PATH, overrides([f"model={model}", *keys], "train")).train
            r = train_and_export(train_files=[fit], eval_files=[validation], transform_output=graph,
                                 serving_model_dir=tempfile.mkdtemp(), features=feats, train=train)
            sweep[setting] = r["eval"]["auc"]
            print(model, setting, "validation auc", round(sweep[setting], 4), flush=True)
        best = max(sweep, key=sweep.get) if sweep else grid[0]
        if args.validation_only:
            results[model] = {"validation_auc": sweep, "chosen_on_validation": best}
            print(model, json.dumps(results[model]), flush=True)
            _record(args.record_as, results, features, len(rows), grid, args.set)
            continue
        feats, keys = setting_features(features, best)
        train = load_config(DEFAULT_CONFIG_PATH, overrides([f"model={model}", *keys], "train")).train
        model_dir = tempfile.mkdtemp()
        r = train_and_export(train_files=[os.path.join(examples, "Split-train", "*")],
                             eval_files=[os.path.join(examples, "Split-eval", "*")],
                             transform_output=graph, serving_model_dir=model_dir, features=feats,
                             train=train)
        logits = ranker_logits(model_dir, serialized)
        terms = {k: v[rows] for k, v in data["terms"].items()}
        results[model] = {**metrics(y, logits, users), "chosen": best, "validation_auc": sweep,
                          "oracle_term_fit": term_fit(logits, terms),
                          "train_examples_per_second": r.get("train_examples_per_second")}
        print(model, json.dumps(results[model]), flush=True)
        _record(args.record_as, results, features, len(rows), grid, args.set)  # each model as it finishes
    print(json.dumps(results, indent=2))


def _record(key: str, results: dict, features: FeatureConfig, eval_examples: int, grid: list,
            settings: list[str]) -> None:
    pop, oracle, hand = (results[k]["auc"] for k in ("popularity", "oracle", "hand_regression"))
    for m, r in results.items():
        if "chosen" in r:  # a ranker scored on eval
            r["share_of_headroom"] = (r["auc"] - pop) / (oracle - pop)
            r["minus_hand_regression"] = r["auc"] - hand
            if "hand_regression_with_item_ctr" in results:  # the regression given the same counters
                r["minus_hand_regression_with_item_ctr"] = (
                    r["auc"] - results["hand_regression_with_item_ctr"]["auc"])
    record(RESULTS, {key: {
        "results": results, "features": [f.name for f in features.features],
        "eval_examples": int(eval_examples), "grid": grid, "set": settings, **stamp(),
        "data": "synthetic default (120,000 events), data.split=temporal (last 20% of time is eval); "
                "settings chosen on the last 20% of the training split by time"}})


if __name__ == "__main__":
    main()
