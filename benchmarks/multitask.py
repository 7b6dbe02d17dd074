"""Multi-task CTR/CVR on the synthetic log: two single-task models vs ESMM vs MMoE (issue 12).

  .venv/bin/python -m benchmarks.multitask [--seeds 3] [--max-epochs 5] [--set key=value ...]

The TFX pipeline runs once on the default synthetic data with the temporal split (the last 20% of
time is the eval split; Transform on Beam). The training split is cut again in time: its last 20%
is the validation part. Each model's number of epochs (1..``--max-epochs``; the CVR model, which
trains on the clicked tenth only, 1..``--max-epochs-clicked``) is chosen on that
validation part (click model: CTR AUC; CVR model: CVR AUC on clicked examples; multi-task and
direct purchase models: CTCVR AUC); then it is refitted on the whole training split with the
chosen epochs and the eval split is scored once, for ``--seeds`` seeds. Models (all the default
DCN-v2 ranker, ``train.*`` defaults unless ``--set``):

* ``click``: single-task, the click over every impression -> pCTR;
* ``cvr_clicked``: single-task, the purchase over the **clicked** impressions only -> pCVR (the
  conventional CVR model whose sample-selection bias ESMM removes); ``single_task_product`` is
  pCTR * pCVR of these two, the CTCVR of two separately trained models;
* ``purchase_direct``: single-task, the purchase over every impression (pCTCVR directly);
* ``esmm``, ``mmoe``: ``train.multitask.mode``; ``esmm`` shares the ranker's hidden vector
  between the heads (``train.multitask.share = "hidden"``), ``esmm_embeddings`` only the embeddings
  (``share = "embeddings"``, the paper's ESMM: two full towers).

The multi-task models' CTCVR loss weight (``train.multitask.ctcvr_weight``) is chosen on the same
validation part, with the epochs, from ``--ctcvr-weights``.

Metrics: CTR AUC (click, every impression), CVR AUC (purchase, clicked impressions only) and
CTCVR AUC (purchase, every impression). Results: benchmarks/results/multitask_synthetic.json.
"""

import argparse
import dataclasses
import json
import os
import statistics
import tempfile

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # Keras 2, before TensorFlow is imported

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_transform as tft  # noqa: E402

from benchmarks.machine import record, stamp  # noqa: E402
from recsys.config import DEFAULT_CONFIG_PATH, REPO_ROOT, MultitaskConfig, load_config  # noqa: E402
from recsys.evaluation.metadata import latest_output_uri, overrides  # noqa: E402
from recsys.evaluation.metrics import auc  # noqa: E402
from recsys.features import FeatureConfig, raw_key  # noqa: E402
from recsys.models.factory import build_ranker  # noqa: E402
from recsys.pipeline.local_runner import RunPaths, run  # noqa: E402
from recsys.training.optimizers import build_optimizer  # noqa: E402
from recsys.training.ranker import _records, make_dataset  # noqa: E402

RESULTS = os.path.join(REPO_ROOT, "benchmarks", "results", "multitask_synthetic.json")
VALIDATION_FRACTION = 0.2
# Which validation figure picks each model's epochs: what the model is for.
SELECT_BY = {"click": "ctr_auc", "cvr_clicked": "cvr_auc", "purchase_direct": "ctcvr_auc",
             "esmm": "ctcvr_auc", "esmm_embeddings": "ctcvr_auc", "mmoe": "ctcvr_auc"}
# The multi-task models: name -> (train.multitask.mode, train.multitask.share).
MULTITASK = {"esmm": ("esmm", "hidden"), "esmm_embeddings": ("esmm", "embeddings"),
             "mmoe": ("mmoe", "hidden")}


def transform_output(work: str, sets: list[str]):
    config = load_config(DEFAULT_CONFIG_PATH, [
        f"pipeline.output_dir={work}", "data.split=temporal", "train.epochs=1",
        "retrieval.enabled=false", "eval.auc_lower_bound=0", *sets])
    store = RunPaths.from_config(config).metadata_path
    try:  # a finished run in ``work`` is reused (the data and Transform only depend on --set)
        latest_output_uri(store, "Transform", "TransformGraph")
    except (FileNotFoundError, Exception):  # noqa: BLE001 - no store yet
        run(config)
    examples = latest_output_uri(store, "Transform", "Examples")
    graph = latest_output_uri(store, "Transform", "TransformGraph")
    return examples, graph, FeatureConfig.load(config.features_path), config


def write_parts(records, path: str) -> str:
    with tf.io.TFRecordWriter(path, tf.io.TFRecordOptions(compression_type="GZIP")) as w:
        for r in records:
            w.write(r)
    return path


def split_training(pattern: str, tft_out, features: FeatureConfig, work: str) -> dict[str, str]:
    """The training split cut in time (fit: the first 80% of its time, val: the rest), and the
    clicked examples of each part and of the whole (the CVR model's training data)."""
    spec = tft_out.transformed_feature_spec()
    keys = {raw_key(features.timestamp_key): spec[raw_key(features.timestamp_key)],
            features.label: spec[features.label]}
    serialized, times, clicks = [], [], []
    for batch in _records([pattern]).batch(8192):
        parsed = tf.io.parse_example(batch, keys)
        serialized += list(batch.numpy())
        times.append(np.reshape(parsed[raw_key(features.timestamp_key)].numpy(), [-1]))
        clicks.append(np.reshape(parsed[features.label].numpy(), [-1]))
    times, clicks = np.concatenate(times), np.concatenate(clicks) > 0
    cut = np.quantile(times, 1 - VALIDATION_FRACTION)
    parts = {"fit": times < cut, "val": times >= cut, "train": np.ones_like(clicks)}
    out = {}
    for name, mask in parts.items():
        out[name] = write_parts((s for s, m in zip(serialized, mask) if m), os.path.join(work, f"{name}.gz"))
        out[name + "_clicked"] = write_parts((s for s, m, c in zip(serialized, mask, clicks) if m and c),
                                             os.path.join(work, f"{name}_clicked.gz"))
    return out


def scores(model, ds) -> dict[str, np.ndarray]:
    """Click, purchase and each head's probability over ``ds`` (labels [B, 2] = click, purchase)."""
    out = {"click": [], "purchase": [], "p": [], "p_aux": []}
    for x, y in ds:
        if getattr(model, "aux_product", False):
            main, aux = model(x, return_aux=True)
            out["p_aux"].append(tf.sigmoid(tf.reshape(aux, [-1])).numpy())
        else:
            main = model(x)
        out["p"].append(tf.sigmoid(tf.reshape(main, [-1])).numpy())
        out["click"].append(y[:, 0].numpy())
        out["purchase"].append(y[:, 1].numpy())
    return {k: np.concatenate(v) if v else None for k, v in out.items()}


def figures(pctr, pcvr, click, purchase) -> dict[str, float]:
    """CTR AUC (every impression), CVR AUC (clicked ones), CTCVR AUC (every impression)."""
    out = {}
    clicked = click > 0
    if pctr is not None:
        out["ctr_auc"] = auc(click, pctr)
    if pcvr is not None:
        out["cvr_auc"] = auc(purchase[clicked], pcvr[clicked])
    if pctr is not None and pcvr is not None:
        out["ctcvr_auc"] = auc(purchase, pctr * pcvr)
    return out


class Setup:
    """The data views and train configs of one benchmark run."""

    def __init__(self, files, tft_out, features, base_train):
        self.files, self.tft_out, self.features = files, tft_out, features
        # Every model is scored on datasets carrying both labels (click, purchase).
        self.both = dataclasses.replace(base_train, multitask=MultitaskConfig(mode="esmm"))
        # The purchase as the one label (single-task models of the purchase).
        self.purchase_features = dataclasses.replace(features, label=features.conversion,
                                                     conversion=features.label)

    def model(self, name: str, train):
        """(train config, feature config, training files key) of model ``name``."""
        if name in MULTITASK:
            mode, share = MULTITASK[name]
            mt = dataclasses.replace(train.multitask, mode=mode, share=share)
            return dataclasses.replace(train, multitask=mt), self.features, ""
        if name == "click":
            return train, self.features, ""
        return train, self.purchase_features, "_clicked" if name == "cvr_clicked" else ""

    def fit_epochs(self, name, train, part: str, epochs: int, eval_part: str | None):
        """Fits ``name`` on ``part`` for ``epochs``; scores ``eval_part`` after every epoch."""
        train, feats, suffix = self.model(name, train)
        tf.keras.utils.set_random_seed(train.seed)
        ds = make_dataset([self.files[part + suffix]], self.tft_out, feats, train, training=True)
        model = build_ranker(train, feats, feats.vocabulary_sizes(self.tft_out))
        steps = sum(1 for _ in ds)
        model.compile(optimizer=build_optimizer(model, train, steps))
        per_epoch = []
        for _ in range(epochs):
            model.fit(ds, epochs=1, verbose=0)
            if eval_part:
                per_epoch.append(self.score(name, model, eval_part))
        return model, per_epoch

    def score(self, name, model, part) -> dict:
        files = [self.files[part]] if part in self.files else part
        s = scores(model, make_dataset(files, self.tft_out, self.features, self.both, training=False))
        s["p_aux"] = s["p_aux"] if name in MULTITASK else None
        return s


def metrics_of(name, s, other=None) -> dict:
    """A model's figures from its scores ``s`` (``other``: the click model's, for the product)."""
    if name == "click":
        return figures(s["p"], None, s["click"], s["purchase"])
    if name == "cvr_clicked":
        return figures(None, s["p"], s["click"], s["purchase"])
    if name == "purchase_direct":
        return {"ctcvr_auc": auc(s["purchase"], s["p"])}
    return figures(s["p"], s["p_aux"], s["click"], s["purchase"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--max-epochs", type=int, default=5)
    # The clicked impressions are ~1/10 of the split: as many steps as the others get in a few
    # epochs take ten times as many epochs, so the CVR model's sweep goes further.
    ap.add_argument("--max-epochs-clicked", type=int, default=40)
    ap.add_argument("--models", default="click,cvr_clicked,purchase_direct,esmm,esmm_embeddings,mmoe")
    ap.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "bench-multitask"))
    ap.add_argument("--set", action="append", default=[], help="section.key=value (a bare key=value: train.key)")
    ap.add_argument("--note", default="", help="stored with the results, e.g. the machine's load")
    ap.add_argument("--results", default=RESULTS, help="results file (a side check: not the README's)")
    ap.add_argument("--ctcvr-weights", default="1",
                    help="comma list: the multi-task models' CTCVR loss weights tried on validation")
    args = ap.parse_args()
    sets = overrides(args.set, "train")
    examples, graph, features, config = transform_output(os.path.abspath(args.work), sets)
    tft_out = tft.TFTransformOutput(graph)
    files = split_training(os.path.join(examples, "Split-train", "*"), tft_out, features, args.work)
    files["eval"] = os.path.join(examples, "Split-eval", "*")
    setup = Setup(files, tft_out, features, config.train)
    names = args.models.split(",")

    weights = [float(w) for w in args.ctcvr_weights.split(",")]

    validation, chosen, chosen_weight = {}, {}, {}
    for name in names:
        most = args.max_epochs_clicked if name == "cvr_clicked" else args.max_epochs
        best = None
        for weight in weights if name in MULTITASK else [None]:
            train = config.train if weight is None else dataclasses.replace(
                config.train, multitask=dataclasses.replace(config.train.multitask, ctcvr_weight=weight))
            _, per_epoch = setup.fit_epochs(name, train, "fit", most, "val")
            curve = [metrics_of(name, s) for s in per_epoch]
            key = name if weight is None else f"{name}@ctcvr_weight={weight:g}"
            validation[key] = curve
            epochs = 1 + int(np.argmax([m[SELECT_BY[name]] for m in curve]))
            print("validation", key, json.dumps(curve), "-> epochs", epochs, flush=True)
            if best is None or curve[epochs - 1][SELECT_BY[name]] > best[0]:
                best = (curve[epochs - 1][SELECT_BY[name]], epochs, weight)
        _, chosen[name], chosen_weight[name] = best

    runs: dict[str, list[dict]] = {n: [] for n in names}
    if "click" in names and "cvr_clicked" in names:
        runs["single_task_product"] = []
    for seed in range(args.seeds):
        got = {}
        for name in names:
            train = dataclasses.replace(config.train, seed=seed)
            if chosen_weight[name] is not None:
                train = dataclasses.replace(train, multitask=dataclasses.replace(
                    train.multitask, ctcvr_weight=chosen_weight[name]))
            model, _ = setup.fit_epochs(name, train, "train", chosen[name], None)
            got[name] = setup.score(name, model, "eval")
            runs[name].append(metrics_of(name, got[name]))
        if "single_task_product" in runs:
            s = got["click"]
            runs["single_task_product"].append(
                figures(s["p"], got["cvr_clicked"]["p"], s["click"], s["purchase"]))
        print("seed", seed, json.dumps({n: r[-1] for n, r in runs.items()}), flush=True)
        # Recorded after every seed: a run cut short still leaves its finished seeds.
        summary = summarise(runs, chosen, chosen_weight)
        record(args.results, {"models": summary, "validation_curves": validation, "seeds": seed + 1,
                         "ctcvr_weights_tried": weights,
                         "train_config": dataclasses.asdict(config.train), **stamp(),
                         **({"note": args.note} if args.note else {}),
                         "data": "synthetic default (120k events), temporal split: eval = last 20% of "
                                 "time; validation = last 20% of the training split's time",
                         "protocol": "epochs (1..max) and, for the multi-task models, the CTCVR loss "
                                     "weight chosen per model on validation, refit on the whole "
                                     "training split, eval split scored once per seed"})
    print(json.dumps(summary, indent=2))


def summarise(runs: dict[str, list[dict]], chosen: dict, chosen_weight: dict) -> dict:
    """Mean, population std and the runs of every figure; the choices made on validation; each
    ESMM's CTCVR AUC gain over the product of the two single-task models, and its spread."""
    summary = {}
    for name, rs in runs.items():
        summary[name] = {m: {"mean": statistics.mean(r[m] for r in rs),
                             "std": statistics.pstdev([r[m] for r in rs]), "runs": [r[m] for r in rs]}
                         for m in rs[0]}
        if name in chosen:
            summary[name]["epochs_chosen_on_validation"] = chosen[name]
        if chosen_weight.get(name) is not None:
            summary[name]["ctcvr_weight_chosen_on_validation"] = chosen_weight[name]
    for name in MULTITASK:
        if name in summary and "single_task_product" in summary:
            # Per seed: the models of one seed share the seed, so the paired gain is the fair one.
            gains = [a - b for a, b in zip(summary[name]["ctcvr_auc"]["runs"],
                                           summary["single_task_product"]["ctcvr_auc"]["runs"])]
            summary[f"{name}_ctcvr_gain_over_single_task_product"] = {
                "mean": statistics.mean(gains), "min": min(gains), "max": max(gains), "runs": gains}
    return summary

if __name__ == "__main__":
    main()
