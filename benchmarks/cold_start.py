"""Cold-start benchmark (issue 13, item 4): every ranker and query encoder on the cold-start slices.

  .venv/bin/python -m benchmarks.cold_start --dataset synthetic
  .venv/bin/python -m benchmarks.cold_start --dataset movielens --source ../shared/data/ml-100k

Protocol: the temporal split (``data.split = "temporal"``, the last 20% of time is eval), where
cold start happens as it does in production: the synthetic log lists 30% of its items inside its
window (``data/synthetic.py``), and ML-100K has users whose first rating comes after the cutoff.
"Cold" is ``FeatureConfig.cold_slices``: the user / item has no interaction in the training split.

The pipeline runs once (its own Evaluator and RetrievalEvaluator report the same slices for the
default ranker and retriever: ``recsys report``). Then, on its Transform output, each ranker of
``--rankers`` is trained by the Trainer's ``train_and_export`` and scored on the raw eval split
through the exported signatures: ``serving_default`` gives the click probability, and
``evaluation_slices`` (TFMA's slice signature) the example's ``user_start`` / ``item_start`` marks, from the same batch
(so predictions and marks cannot be misaligned); AUC per mark (``evaluation/metrics.auc``). Each
query encoder of ``--encoders`` is trained by ``training/retriever.train_and_export`` and scored by
``evaluation/retrieval.evaluate``: the RetrievalEvaluator's own full-catalogue protocol and
slices, with the popularity baseline (which can never rank a cold item above a warm one).
One seed (``--seeds``): a first look; speed figures are not the point here.
Results: ``benchmarks/results/cold_start.json``, per data set (with the command, machine, date and
the load average during the run).
"""

import argparse
import dataclasses
import json
import os
import tempfile

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # Keras 2, before TensorFlow is imported

from benchmarks.machine import record, stamp
from recsys.config import DEFAULT_CONFIG_PATH, REPO_ROOT, load_config
from recsys.evaluation.metadata import latest_output_uri
from recsys.features import FeatureConfig
from recsys.pipeline.local_runner import RunPaths, run

RESULTS = os.path.join(REPO_ROOT, "benchmarks", "results", "cold_start.json")
RETRIEVAL_METRICS = ("count", "recall@10", "recall@100", "ndcg@10")


def pipeline_outputs(config, reuse: bool):
    """(raw examples, transformed examples, Transform graph) of the run in ``config``'s output dir."""
    if not reuse:
        run(config)
    store = RunPaths.from_config(config).metadata_path
    return (latest_output_uri(store, "ImportExampleGen", "Examples"),
            latest_output_uri(store, "Transform", "Examples"),
            latest_output_uri(store, "Transform", "TransformGraph"))


def ranker_slices(model_dir: str, raw_uri: str, features: FeatureConfig, label_mode: str) -> dict:
    """AUC and example count overall and per cold-start mark, on the raw eval split."""
    import numpy as np
    import tensorflow as tf

    from recsys.evaluation.metrics import auc
    from recsys.models.export import PREDICTION_KEYS, SLICE_SIGNATURE

    loaded = tf.saved_model.load(model_dir)
    serve, marked = loaded.signatures["serving_default"], loaded.signatures[SLICE_SIGNATURE]
    label = {features.label: tf.io.FixedLenFeature([], tf.int64)}
    files = tf.io.gfile.glob(os.path.join(raw_uri, "Split-eval", "*"))
    scores, labels, marks = [], [], {name: [] for name in features.cold_slices}
    for batch in tf.data.TFRecordDataset(files, compression_type="GZIP").batch(4096):
        scores.append(serve(examples=batch)[PREDICTION_KEYS[label_mode]].numpy().ravel())
        slices = marked(examples=batch)
        labels.append(tf.io.parse_example(batch, label)[features.label].numpy())
        for name in marks:
            marks[name].append(slices[name].numpy().ravel())
    scores, labels = np.concatenate(scores), np.concatenate(labels)
    out = {"overall": {"count": int(len(labels)), "auc": auc(labels, scores)}}
    for name, values in marks.items():
        values = np.concatenate(values)
        for mark in sorted(set(values)):
            mask = values == mark
            both = 0 < labels[mask].sum() < mask.sum()  # AUC needs both classes
            out[f"{name}:{mark.decode()}"] = {"count": int(mask.sum()),
                                             "auc": auc(labels[mask], scores[mask]) if both else None}
    return out


def pipeline_slices(config) -> dict:
    """The pipeline run's own figures on the cold-start slices: the Evaluator's TFMA AUC of the
    pushed ranker and the RetrievalEvaluator's Recall/NDCG (with popularity), read through MLMD."""
    from recsys.evaluation import eval_result

    store = RunPaths.from_config(config).metadata_path
    evaluation = eval_result.load(eval_result.latest_evaluation_uri(store))
    ranker = {s.slice: {"count": s.metrics.get("example_count"), "auc": s.metrics.get("auc")}
              for s in evaluation.slices
              if s.slice == eval_result.OVERALL or s.slice.partition("=")[0] in features_cold(config)}
    retrieval = eval_result.load_retrieval(eval_result.find_retrieval_metrics(store))
    return {"ranker": {"model": config.train.model, **ranker},
            "retriever": {"model": config.retrieval.sequence_encoder, **retriever_slices(retrieval)},
            "popularity": retriever_slices(retrieval["baseline"])}


def features_cold(config) -> tuple[str, ...]:
    return tuple(FeatureConfig.load(config.features_path).cold_slices)


def retriever_slices(result: dict) -> dict:
    """The RetrievalEvaluator's result, overall and the cold-start slices only."""
    keep = {k: v for k, v in result["slices"].items() if k.partition(":")[0] in ("user_start", "item_start")}
    return {name: {m: v.get(m) for m in RETRIEVAL_METRICS}
            for name, v in {"overall": result["overall"], **keep}.items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", choices=("synthetic", "movielens"), default="synthetic")
    ap.add_argument("--source", default="", help="the MovieLens directory (--dataset movielens)")
    ap.add_argument("--work", default="", help="pipeline output dir; default a temp dir per data set")
    ap.add_argument("--reuse-pipeline", action="store_true",
                    help="take the outputs of an earlier run in --work, run no pipeline")
    ap.add_argument("--rankers", default="dcn,wide_deep,din")
    ap.add_argument("--encoders", default="mean,gru,sasrec")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--set", action="append", default=[], help="section.key=value for every row")
    ap.add_argument("--record-as", default="", help="result key; default the data set's name")
    args = ap.parse_args()
    work = args.work or os.path.join(tempfile.gettempdir(), f"bench-cold-start-{args.dataset}")
    data = [f"data.dataset={args.dataset}"] + ([f"data.source={os.path.abspath(args.source)}"]
                                               if args.source else [])
    config = load_config(DEFAULT_CONFIG_PATH, [f"pipeline.output_dir={work}", "data.split=temporal",
                                               *data, *args.set])
    features = FeatureConfig.load(config.features_path)
    raw, transformed, graph = pipeline_outputs(config, args.reuse_pipeline)
    train_files = [os.path.join(transformed, "Split-train", "*")]
    eval_files = [os.path.join(transformed, "Split-eval", "*")]
    loads = [os.getloadavg()[0]]
    rankers, retrievers, popularity = {}, {}, None
    entry = {"pipeline": pipeline_slices(config), "settings": args.set, "seed": args.seed, **stamp(),
             "data": f"{args.dataset}{' ' + args.source if args.source else ''}, temporal split "
                     f"(last {config.data.eval_fraction:.0%} of time is eval); cold = no training "
                     "interaction (FeatureConfig.cold_slices)"}

    def save():  # after every row: a long run stopped early keeps what it measured
        record(RESULTS, {args.record_as or args.dataset: {
            **entry, "rankers": rankers, "retrievers": {**retrievers, "popularity": popularity},
            "load_average": {"min": min(loads), "max": max(loads)}}})

    save()

    from recsys.training import ranker, retriever
    from recsys.evaluation.retrieval import evaluate

    for model in filter(None, args.rankers.split(",")):
        train = dataclasses.replace(config.train, model=model, seed=args.seed)
        model_dir = tempfile.mkdtemp()
        ranker.train_and_export(train_files=train_files, eval_files=eval_files, transform_output=graph,
                                serving_model_dir=model_dir, features=features, train=train)
        rankers[model] = ranker_slices(model_dir, raw, features, train.label_mode)
        loads.append(os.getloadavg()[0])
        print("ranker", model, json.dumps(rankers[model]), flush=True)
        save()
    for encoder in filter(None, args.encoders.split(",")):
        model_dir = tempfile.mkdtemp()
        retriever.train_and_export(
            train_files=train_files, eval_files=eval_files, transform_output=graph,
            serving_model_dir=model_dir, features=features,
            config=dataclasses.replace(config.retrieval, sequence_encoder=encoder, seed=args.seed))
        result = evaluate(raw, model_dir, features, config.retrieval_eval)
        retrievers[encoder] = retriever_slices(result)
        popularity = retriever_slices(result["baseline"])
        loads.append(os.getloadavg()[0])
        print("retriever", encoder, json.dumps(retrievers[encoder]), flush=True)
        save()
    print(json.dumps({"pipeline": entry["pipeline"], "rankers": rankers, "retrievers": retrievers},
                     indent=1))


if __name__ == "__main__":
    main()
