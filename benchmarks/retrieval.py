"""Two-tower retrieval benchmark on MovieLens-100K, through the Trainer and the RetrievalEvaluator.

  .venv/bin/python -m benchmarks.retrieval --movielens ../shared/data/ml-100k

The TFX pipeline runs once (the benchmarks' temporal split, ``benchmarks/protocol.py``: the last
20% of time is eval, so no eval rating reaches a training history; Transform on Beam). Then per
seed: ``components/retrieval_trainer`` trains and exports the retrieval SavedModel, and ``components/retrieval_evaluator.evaluate``
scores it exactly as the pipeline's gate does: every held-out rating is a test case, all movies
are candidates, the user's training movies are excluded; the popularity baseline likewise.
Also: training examples/s (steady-state epochs) and the exported index's query latency (one user,
top-100, ``serving_exclude`` called from Python, median of 200 calls).
Results: benchmarks/results/retrieval_ml100k.json: ``variants`` and ``popularity`` (feature
ablations recorded on the earlier hash split, the mean-pool query tower).

Sequence encoders (issue 13) on one protocol, every row with the same split and exclusions:

  .venv/bin/python -m benchmarks.retrieval --movielens ../shared/data/ml-100k \
      --protocol next_item --encoders mean,gru,sasrec --seeds 1

``--protocol temporal`` (the default: the benchmarks' temporal split above), ``next_item`` (``data.split =
"leave_last_out"``: per user the last rating by time is the one test case, all earlier ones
train) or ``next_item_validation`` (the second-to-last rating held out, the last dropped: where
settings are chosen). Rows: popularity and one per encoder; recorded under
``protocols.<protocol>``.

The same comparison on the synthetic log (``--synthetic`` instead of ``--movielens``; ``--data``
adds ``data.*`` overrides of the generated log, e.g. its sessions and their drift), recorded in
benchmarks/results/retrieval_synthetic.json:

  .venv/bin/python -m benchmarks.retrieval --synthetic --data data.sessions=true \
      --data data.session_drift=0.5 --data data.session_intent=3 \
      --protocol next_item_validation --encoders mean,gru,sasrec --seeds 1
"""

import argparse
import dataclasses
import json
import os
import statistics
import tempfile
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # Keras 2, before TensorFlow is imported

from benchmarks.machine import record, stamp
from benchmarks.protocol import SPLIT_OVERRIDES
from recsys.evaluation.retrieval import evaluate, read_split
from recsys.training.retriever import train_and_export
from recsys.evaluation.metadata import latest_output_uri, overrides
from recsys.pipeline.local_runner import RunPaths, run
from recsys.config import DEFAULT_CONFIG_PATH, REPO_ROOT, load_config
from recsys.features import FeatureConfig

RESULTS = os.path.join(REPO_ROOT, "benchmarks", "results", "retrieval_ml100k.json")
SYNTHETIC_RESULTS = os.path.join(REPO_ROOT, "benchmarks", "results", "retrieval_synthetic.json")
REPORTED = ("recall@10", "recall@50", "recall@100", "ndcg@10", "mrr", "coverage@10", "coverage@100")


PROTOCOLS = {  # --protocol -> the data split that makes it
    "temporal": [],  # benchmarks/protocol.py SPLIT_OVERRIDES
    "next_item": ["data.split=leave_last_out"],
    "next_item_validation": ["data.split=leave_last_out", "data.leave_out_validation=true"]}
PROTOCOL_TEXT = {
    "temporal": "temporal split: the last 20% of time is eval (benchmarks/protocol.py); every rating an interaction",
    "next_item": "leave-last-out: per user the last rating by time is the test case, every "
                 "earlier one trains (data.split=leave_last_out)",
    "next_item_validation": "leave-second-to-last-out: per user the second-to-last rating is the "
                            "case, the last dropped (data.leave_out_validation=true)"}
ROWS = {"mean": "mean-pool", "gru": "gru4rec", "sasrec": "sasrec"}  # encoder -> result row


def pipeline_outputs(movielens: str, work: str, features: str = "", split: tuple[str, ...] = (),
                     reuse: bool = False):
    """``movielens``: its directory, or "" for the synthetic generator; ``reuse``: the Transform
    outputs of an earlier run in ``work`` (the benchmark needs no more than Transform; an earlier
    run may have been stopped once Transform was done)."""
    source = (["data.dataset=movielens", f"data.source={movielens}"] if movielens
              else ["data.dataset=synthetic"])
    config = load_config(DEFAULT_CONFIG_PATH, [
        f"pipeline.output_dir={work}", *source,
        *(() if split else SPLIT_OVERRIDES),
        f"data.features={features}", "train.epochs=1", "retrieval.epochs=1", "eval.auc_lower_bound=0",
        *split])
    if not reuse:
        run(config)
    return run_outputs(config)


def run_outputs(config):
    """(raw examples, transformed examples, Transform graph, features, config) of the latest
    pipeline run of ``config``."""
    store = RunPaths.from_config(config).metadata_path
    return (latest_output_uri(store, "ImportExampleGen", "Examples"),
            latest_output_uri(store, "Transform", "Examples"),
            latest_output_uri(store, "Transform", "TransformGraph"),
            FeatureConfig.load(config.features_path), config)


def query_latency_ms(model_dir: str, examples_uri: str, features: FeatureConfig, calls: int = 200) -> float:
    import tensorflow as tf

    _, _, queries, _ = read_split(examples_uri, "eval", features, keep_bytes=True)
    serve = tf.saved_model.load(model_dir).signatures["serving_exclude"]
    times = []
    for q in queries[:calls]:
        start = time.perf_counter()
        serve(examples=tf.constant([q]), exclude=tf.constant([[""]]))["item_ids"].numpy()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times[5:])  # the first calls trace and warm up


def main():
    ap = argparse.ArgumentParser()
    data = ap.add_mutually_exclusive_group(required=True)
    data.add_argument("--movielens", help="MovieLens directory (ml-100k, ml-1m layouts)")
    data.add_argument("--synthetic", action="store_true", help="the synthetic generator's log")
    ap.add_argument("--data", action="append", default=[],
                    help="data.key=value of the pipeline's data (e.g. data.sessions=true)")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "bench-retrieval"))
    ap.add_argument("--set", action="append", default=[], help="section.key=value (a bare key=value: retrieval.key)")
    ap.add_argument("--features", default="", help="feature config (ablations); default movielens.toml")
    ap.add_argument("--history", type=int, default=0,
                    help="MovieLens: every history K long (data.history_length and the histories' "
                         "max_length, as benchmarks/sequence_sweep.py's @history=K); 0: the shipped 20")
    ap.add_argument("--record-as", default="two_tower",
                    help="result key in the JSON (with --encoders: a suffix of each row's name)")
    ap.add_argument("--protocol", choices=sorted(PROTOCOLS), default="temporal")
    ap.add_argument("--reuse-pipeline", action="store_true",
                    help="take the Transform outputs of an earlier run in --work, run no pipeline")
    ap.add_argument("--encoders", default="",
                    help="comma-separated retrieval.sequence_encoder values: one row each")
    args = ap.parse_args()
    if args.data and not all(d.startswith("data.") for d in args.data):
        raise SystemExit(f"--data {args.data}: expected data.key=value overrides")
    if args.history:
        if not args.movielens or args.features:
            raise SystemExit("--history K: MovieLens only, and not with --features (it writes its own)")
        from benchmarks.sequence_sweep import history_features  # it imports this module

        work = os.path.join(args.work, args.protocol)
        args.features = history_features(args.history, work)
        args.data = [*args.data, f"data.history_length={args.history}"]
    raw, transformed, graph, features, config = pipeline_outputs(
        os.path.abspath(args.movielens) if args.movielens else "",
        os.path.join(args.work, args.protocol), args.features,
        (*PROTOCOLS[args.protocol], *args.data), reuse=args.reuse_pipeline)
    if args.encoders:
        return compare_encoders(args, raw, transformed, graph, features, config)
    if args.protocol != "temporal" or args.synthetic:
        raise SystemExit("--protocol other than temporal or --synthetic: give --encoders (the "
                         "variants are MovieLens' on the default split)")
    base = load_config(DEFAULT_CONFIG_PATH,
                       overrides(args.set, "retrieval")).retrieval
    runs, baseline = [], None
    for seed in range(args.seeds):
        r, baseline, model_dir = train_and_evaluate(raw, transformed, graph, features, config,
                                                    dataclasses.replace(base, seed=seed))
        r["latency_ms"] = query_latency_ms(model_dir, raw, features)
        runs.append(r)
        print(seed, json.dumps({k: round(r[k], 4) for k in REPORTED}), round(r["train_examples_per_second"]),
              f"{r['latency_ms']:.2f} ms")
    summary = {m: {"mean": statistics.mean(r[m] for r in runs), "std": statistics.pstdev(r[m] for r in runs),
                   "runs": [r[m] for r in runs]}
               for m in REPORTED + ("train_examples_per_second", "latency_ms")}
    summary["slices"] = {name: {m: statistics.mean(r["slices"][name][m] for r in runs)
                                for m in ("count", "recall@10", "recall@100")}
                         for name in runs[0]["slices"]}
    previous = {}
    if os.path.exists(RESULTS):  # keep the other variants' figures
        with open(RESULTS) as fh:
            previous = {k: v for k, v in json.load(fh).get("variants", {}).items() if k != args.record_as}
    variant = {**summary, "features": args.features or "configs/features/movielens.toml",
               "retrieval_config": dataclasses.asdict(base), "seeds": args.seeds}
    record(RESULTS, {"variants": {**previous, args.record_as: variant},
                     "popularity": {**baseline["overall"], "slices": baseline["slices"]},
                     "test_cases": runs[0]["count"], "catalog_size": runs[0]["catalog_size"], **stamp(),
                     "data": "ml-100k, temporal split: the last 20% of time is eval (benchmarks/protocol.py); every "
                             "rating an interaction; user's training items excluded"})
    print(json.dumps({args.record_as: {m: round(summary[m]["mean"], 4) for m in REPORTED},
                      "popularity": {m: round(baseline["overall"][m], 4) for m in REPORTED}}, indent=2))


def train_and_evaluate(raw, transformed, graph, features, config, retrieval) -> tuple[dict, dict, str]:
    """(the retriever's figures with its training speed, the popularity baseline's, the export)."""
    model_dir = tempfile.mkdtemp()
    r = train_and_export(train_files=[os.path.join(transformed, "Split-train", "*")],
                         eval_files=[os.path.join(transformed, "Split-eval", "*")],
                         transform_output=graph, serving_model_dir=model_dir,
                         features=features, config=retrieval)
    result = evaluate(raw, model_dir, features, config.retrieval_eval)
    r.update(result["overall"], slices=result["slices"])
    return r, result["baseline"], model_dir


def compare_encoders(args, raw, transformed, graph, features, config) -> None:
    """One row per sequence encoder (``args.seeds`` seeds each) plus popularity, on one protocol.
    Recorded after every seed (``seeds`` says how many a row holds): on a shared machine a long
    comparison stopped half-way keeps what it measured."""
    base = load_config(DEFAULT_CONFIG_PATH, overrides(args.set, "retrieval")).retrieval
    metrics = ("recall@10", "recall@100", "ndcg@10", "mrr", "train_examples_per_second")
    rows = {}
    for encoder in args.encoders.split(","):
        runs = []
        for seed in range(args.seeds):
            load_before = os.getloadavg()[0]
            r, baseline, _ = train_and_evaluate(raw, transformed, graph, features, config,
                                             dataclasses.replace(base, seed=seed, sequence_encoder=encoder))
            r["load_average"] = (load_before + os.getloadavg()[0]) / 2
            runs.append(r)
            print(args.protocol, encoder, seed, json.dumps({m: round(r[m], 4) for m in metrics}),
                  f"load {r['load_average']:.1f}", flush=True)
            # a --set variant gets its own row (--record-as names it) beside the default one
            name = ROWS[encoder] if args.record_as == "two_tower" else f"{ROWS[encoder]} {args.record_as}"
            rows[name] = {
                **{m: {"mean": statistics.mean(r[m] for r in runs), "std": statistics.pstdev(r[m] for r in runs),
                       "runs": [r[m] for r in runs]}
                   for m in metrics + ("load_average",)},
                "retrieval_config": dataclasses.asdict(dataclasses.replace(base, sequence_encoder=encoder)),
                "overrides": args.set, "history_length": config.data.history_length, "seeds": len(runs)}
            rows["popularity"] = {m: baseline["overall"][m] for m in ("recall@10", "recall@100", "ndcg@10", "mrr")}
            _record_protocol(args.protocol, rows, r, config, args.data)
    print(json.dumps({name: {m: round(row[m]["mean"] if isinstance(row[m], dict) else row[m], 4)
                             for m in ("recall@10", "recall@100", "ndcg@10")}
                      for name, row in rows.items()}, indent=2))


def _record_protocol(protocol: str, rows: dict, run: dict, config, data: list[str]) -> None:
    """Merge ``rows`` into ``protocols.<protocol>`` of the results (other protocols and rows kept);
    the synthetic log's results go to their own file, one entry per ``data`` overrides."""
    synthetic = config.data.dataset == "synthetic"
    results = SYNTHETIC_RESULTS if synthetic else RESULTS
    if synthetic:
        protocol = " ".join([protocol, *data])  # a drifting log is another data set
    previous = {}
    if os.path.exists(results):
        with open(results) as fh:
            previous = json.load(fh).get("protocols", {})
    before = previous.get(protocol, {})
    # Each row keeps the run that measured it (``run``: command, commit, date, machine): a later
    # ``--record-as`` run adds rows to the protocol and restamps the entry, and the earlier rows
    # would otherwise show the later command. Rows from before per-row stamps take the entry's.
    now = stamp()
    earlier = {k: before[k] for k in now if k in before}
    kept = {name: row if "run" in row or not earlier else {**row, "run": earlier}
            for name, row in before.get("rows", {}).items()}
    text = PROTOCOL_TEXT[protocol.split()[0]]
    entry = {"rows": {**kept, **{name: {**row, "run": now} for name, row in rows.items()}},
             "test_cases": run["count"], "catalog_size": run["catalog_size"], **now,
             "data": f"{'synthetic ' + ' '.join(data) if synthetic else 'ml-100k'}, "
                     # The synthetic log has interactions, not ratings.
                     f"{text.replace('rating', 'interaction') if synthetic else text}; "
                     "user's training items excluded "
                     f"(retrieval_eval.exclude_seen={config.retrieval_eval.exclude_seen}); "
                     "full catalogue, no sampled negatives"}
    record(results, {"protocols": {**previous, protocol: entry}})


if __name__ == "__main__":
    main()
