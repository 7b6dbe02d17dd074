"""Settings sweep of the sequence encoders (issue 13) on the next-item **validation** split only:
per user the second-to-last rating is the case and the last is never seen, so the settings chosen
here are then reported once on the test split by ``benchmarks/retrieval.py --protocol next_item``.

  .venv/bin/python -m benchmarks.sequence_sweep --movielens ../shared/data/ml-100k \
      --run "sasrec_noid sequence_encoder=sasrec query_exclude=user_id" \
      --run "sasrec_k50 @history=50 sequence_encoder=sasrec"

Each ``--run`` is a name and ``retrieval.*`` overrides (``section.key=value`` for other sections);
``@history=K`` writes every history K long (``data.history_length`` and the feature config's
``max_length``, so the pipeline runs once per K). One seed per run (seed 0): the sweep ranks
settings, ``benchmarks/retrieval.py`` gives the seeds' spread. Every run is recorded as soon as it
ends in benchmarks/results/retrieval_sweep_ml100k.json (overrides, Recall@10/@100, NDCG@10, MRR,
training examples/s, the load average around it, the command, machine and date).
"""

import argparse
import dataclasses
import json
import os
import re
import tempfile
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # Keras 2, before TensorFlow is imported

from benchmarks.machine import record, stamp
from benchmarks.retrieval import PROTOCOLS, pipeline_outputs, train_and_evaluate
from recsys.config import CONFIG_DIR, DEFAULT_CONFIG_PATH, REPO_ROOT, load_config
from recsys.evaluation.metadata import overrides

RESULTS = os.path.join(REPO_ROOT, "benchmarks", "results", "retrieval_sweep_ml100k.json")
PROTOCOL = "next_item_validation"
METRICS = ("recall@10", "recall@100", "ndcg@10", "mrr", "train_examples_per_second")
DEFAULT_K = 20  # configs/features/movielens.toml's histories


def history_features(k: int, work: str) -> str:
    """A copy of the MovieLens feature config with every history ``k`` long ("" for the shipped
    one): the sweep's K without a second feature config in the repo."""
    if k == DEFAULT_K:
        return ""
    with open(os.path.join(CONFIG_DIR, "features", "movielens.toml")) as fh:
        text = fh.read()
    # Only the histories carry max_length = 20 (genres are 6): refuse a config where that changed.
    text, n = re.subn(r"(?m)^max_length = 20$", f"max_length = {k}", text)
    if n != 3:
        raise SystemExit(f"movielens.toml: expected 3 histories with max_length = {DEFAULT_K}, found {n}")
    path = os.path.join(work, f"movielens_k{k}.toml")
    os.makedirs(work, exist_ok=True)
    with open(path, "w") as fh:
        fh.write(text)
    return path


def parse_run(text: str) -> tuple[str, int, list[str]]:
    """``"name [@history=K] key=value ..."`` -> (name, K, overrides)."""
    name, *parts = text.split()
    k = DEFAULT_K
    sets = []
    for p in parts:
        if p.startswith("@history="):
            k = int(p.split("=", 1)[1])
        elif "=" in p:
            sets.append(p)
        else:
            raise SystemExit(f"--run {text!r}: {p!r} is not key=value or @history=K")
    return name, k, sets


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--movielens", required=True)
    ap.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "bench-sequence-sweep"))
    ap.add_argument("--run", action="append", required=True, help='"name [@history=K] key=value ..."')
    ap.add_argument("--reuse-pipeline", action="store_true",
                    help="take the Transform outputs of an earlier run in --work, run no pipeline")
    args = ap.parse_args()
    pipelines = {}
    for name, k, sets in map(parse_run, args.run):
        if k not in pipelines:
            # K = 20 shares benchmarks/retrieval.py's directory: one pipeline for both.
            work = os.path.join(args.work, PROTOCOL if k == DEFAULT_K else f"{PROTOCOL}-k{k}")
            pipelines[k] = pipeline_outputs(
                os.path.abspath(args.movielens), work, history_features(k, work),
                (*PROTOCOLS[PROTOCOL], f"data.history_length={k}"), reuse=args.reuse_pipeline)
        raw, transformed, graph, features, config = pipelines[k]
        retrieval = dataclasses.replace(
            load_config(DEFAULT_CONFIG_PATH, overrides(sets, "retrieval")).retrieval, seed=0)
        load_before, start = os.getloadavg()[0], time.time()
        r, baseline, _ = train_and_evaluate(raw, transformed, graph, features, config, retrieval)
        row = {**{m: r[m] for m in METRICS}, "history_length": k, "overrides": sets,
               "epoch_seconds": r["epoch_seconds"], "seconds": round(time.time() - start),
               "load_average": round((load_before + os.getloadavg()[0]) / 2, 1),
               "retrieval_config": dataclasses.asdict(retrieval), **stamp()}
        print(name, {m: round(row[m], 4) for m in METRICS}, f"load {row['load_average']}",
              f"{row['seconds']} s", flush=True)
        previous = {}
        if os.path.exists(RESULTS):
            with open(RESULTS) as fh:
                previous = json.load(fh).get("runs", {})
        record(RESULTS, {"runs": {**previous, name: row},
                         "popularity": {m: baseline["overall"][m] for m in METRICS[:4]},
                         "test_cases": r["count"], "protocol": PROTOCOL,
                         "data": "ml-100k, leave-second-to-last-out (the validation carve of the "
                                 "next-item split); user's training items excluded; full catalogue"})


if __name__ == "__main__":
    main()
