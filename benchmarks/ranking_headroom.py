"""Where the ranker's remaining AUC headroom sits on MovieLens-100K: a blend with neighbourhoods.

  .venv/bin/python -m benchmarks.ranking_headroom --movielens ../shared/data/ml-100k \
      --set embedding_dim=32 --set embedding_l2=0.001 --set epochs=8 --set id_bias=true \
      --set id_bias_l2=0.0001 --set aux_weight=1.0 --set ema_momentum=0.99

Not a model we ship: a measurement. The pipeline runs once (as in ``benchmarks.retrieval``), the
ranker is trained per seed through the Trainer's ``train_and_export`` and scored through its own
``serving_default`` signature on the raw eval tf.Examples. Next to it, the classic neighbourhood
predictors of Koren's KNNBaseline (``models/neighbourhood.py``: baseline b_ui, item_knn and
user_knn over 40 neighbours), fitted on the training split only.

Each neighbourhood comes in two versions: ``causal`` uses only ratings given strictly before the
example (what a request can carry: the user's history, the item's recent raters; the ranker's
own history features obey the same rule) and ``transductive`` every training rating of the user
or item, including later ones (what collaborative-filtering benchmarks on a random split use, and
what the id embeddings see too).

Every blend is a logistic regression on the rating >= 4 label, scored by the AUC of its 5-fold
out-of-fold predictions on the eval split. The gain of a blend over the ranker alone is signal the
ranker does not extract; the README's ranking section reads the figures.
Results: benchmarks/results/ranking_headroom_ml100k.json (mean and std over seeds).
"""

import argparse
import dataclasses
import glob
import json
import os
import statistics
import tempfile

import numpy as np

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # Keras 2, before TensorFlow is imported
import tensorflow as tf
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import cross_val_predict

from benchmarks.machine import record, stamp
from benchmarks.retrieval import pipeline_outputs
from recsys.evaluation.metadata import overrides
from recsys.training.ranker import train_and_export
from recsys.models.neighbourhood import fit_baseline, knn, similarities
from recsys.config import DEFAULT_CONFIG_PATH, REPO_ROOT, load_config

RESULTS = os.path.join(REPO_ROOT, "benchmarks", "results", "ranking_headroom_ml100k.json")
NEIGHBOURS = 40
BLENDS = {  # name -> the blend's inputs ("ranker": the ranker's logit)
    "ranker": ["ranker"],
    "ranker + baseline": ["ranker", "baseline"],
    "ranker + baseline + causal knn": ["ranker", "baseline", "item_knn_causal", "user_knn_causal"],
    "ranker + baseline + transductive knn": ["ranker", "baseline", "item_knn", "user_knn"],
    "knn_baseline (transductive), no ranker": ["baseline", "item_knn", "user_knn"],
    "knn_baseline (causal), no ranker": ["baseline", "item_knn_causal", "user_knn_causal"],
}


@dataclasses.dataclass
class Ratings:
    """Every rating of both splits, as dense indices."""
    user: np.ndarray
    item: np.ndarray
    rating: np.ndarray
    time: np.ndarray
    is_eval: np.ndarray
    serialized: list  # the eval split's raw tf.Examples, in ``np.flatnonzero(is_eval)`` order


def read_ratings(raw_examples: str) -> Ratings:
    cols = {k: [] for k in ("user", "item", "rating", "time", "is_eval")}
    serialized = []
    ids: dict[str, dict] = {"user": {}, "item": {}}
    for split in ("train", "eval"):
        files = sorted(glob.glob(os.path.join(raw_examples, f"Split-{split}", "*")))
        for s in tf.data.TFRecordDataset(files, compression_type="GZIP").as_numpy_iterator():
            f = tf.train.Example.FromString(s).features.feature
            for key, field in (("user", "user_id"), ("item", "item_id")):
                value = f[field].bytes_list.value[0] if f[field].bytes_list.value else f[field].int64_list.value[0]
                cols[key].append(ids[key].setdefault(value, len(ids[key])))
            cols["rating"].append(f["rating"].float_list.value[0])
            cols["time"].append(f["timestamp"].int64_list.value[0])
            cols["is_eval"].append(split == "eval")
            if split == "eval":
                serialized.append(s)
    return Ratings(**{k: np.asarray(v) for k, v in cols.items()}, serialized=serialized)


def neighbourhood_predictors(r: Ratings) -> dict[str, np.ndarray]:
    """The baseline and the four neighbourhood corrections for every eval rating."""
    train = ~r.is_eval
    n_users, n_items = r.user.max() + 1, r.item.max() + 1
    mu, bu, bi = fit_baseline(r.user[train], r.item[train], r.rating[train], n_users, n_items)
    b = mu + bu[r.user] + bi[r.item]
    residual = r.rating - b
    s_item = similarities(r.item[train], r.user[train], residual[train], n_items, n_users)
    s_user = similarities(r.user[train], r.item[train], residual[train], n_users, n_items)
    by_user = {u: np.flatnonzero(r.user == u) for u in np.unique(r.user)}
    by_item = {i: np.flatnonzero(r.item == i) for i in np.unique(r.item)}
    out = {k: [] for k in ("item_knn", "item_knn_causal", "user_knn", "user_knn_causal")}
    for k in np.flatnonzero(r.is_eval):
        u, i, t = r.user[k], r.item[k], r.time[k]
        mine, theirs = by_user[u], by_item[i]
        for name, pool, sim, other in (("item_knn", mine, s_item[i], r.item),
                                       ("user_knn", theirs, s_user[u], r.user)):
            known = pool[train[pool]]  # training ratings only: never the eval rating itself
            out[name].append(knn(sim[other[known]], residual[known], NEIGHBOURS))
            earlier = pool[r.time[pool] < t]  # either split, strictly before this rating
            out[name + "_causal"].append(knn(sim[other[earlier]], residual[earlier], NEIGHBOURS))
    return {"baseline": b[r.is_eval], **{k: np.asarray(v) for k, v in out.items()}}


def ranker_logits(model_dir: str, serialized: list, batch: int = 4096) -> np.ndarray:
    serve = tf.saved_model.load(model_dir).signatures["serving_default"]
    probs = np.concatenate([serve(examples=tf.constant(serialized[s:s + batch]))["probability"].numpy()
                            for s in range(0, len(serialized), batch)])
    probs = np.clip(probs.astype(np.float64), 1e-7, 1 - 1e-7)
    return np.log(probs / (1 - probs))


def blend_auc(columns: list[np.ndarray], label: np.ndarray) -> float:
    x = np.stack(columns, axis=1)
    x = (x - x.mean(0)) / np.maximum(x.std(0), 1e-12)
    p = cross_val_predict(LogisticRegression(max_iter=1000), x, label, cv=5, method="predict_proba")[:, 1]
    return float(roc_auc_score(label, p))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--movielens", required=True)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "bench-ranking"))
    ap.add_argument("--set", action="append", default=[], help="section.key=value (a bare key=value: train.key)")
    args = ap.parse_args()
    raw, examples, graph, features, _ = pipeline_outputs(os.path.abspath(args.movielens), args.work)
    ratings = read_ratings(raw)
    label = (ratings.rating[ratings.is_eval] >= 4).astype(int)
    predictors = neighbourhood_predictors(ratings)
    base = load_config(DEFAULT_CONFIG_PATH,
                       overrides(args.set, "train")).train
    train = dataclasses.replace(base, label_mode="binary")
    runs: dict[str, list[float]] = {name: [] for name in BLENDS}
    for seed in range(args.seeds):
        model_dir = tempfile.mkdtemp()
        train_and_export(train_files=[os.path.join(examples, "Split-train", "*")],
                         eval_files=[os.path.join(examples, "Split-eval", "*")], transform_output=graph,
                         serving_model_dir=model_dir, features=features,
                         train=dataclasses.replace(train, seed=seed))
        inputs = {**predictors, "ranker": ranker_logits(model_dir, ratings.serialized)}
        for name, keys in BLENDS.items():
            runs[name].append(blend_auc([inputs[k] for k in keys], label))
            print(seed, name, round(runs[name][-1], 4), flush=True)
    blends = {name: {"auc": {"mean": statistics.mean(v), "std": statistics.pstdev(v), "runs": v},
                     "inputs": BLENDS[name]} for name, v in runs.items()}
    record(RESULTS, {"blends": blends, "train_config": dataclasses.asdict(train), "seeds": args.seeds,
                     "eval_examples": int(ratings.is_eval.sum()), **stamp(),
                     "data": "ml-100k, temporal split: the last 20% of time is eval (benchmarks/protocol.py)"})
    print(json.dumps(blends, indent=2))


if __name__ == "__main__":
    main()
