"""Session-based retrieval on the synthetic log with sessions (issue 13 item 2).

  .venv/bin/python -m benchmarks.sessions --rows session_mean,session_gru,session_sasrec,user_mean

The pipeline runs once on ``data.sessions=true`` (the benchmarks' temporal split,
``benchmarks/protocol.py``: the last 20% of time is eval). Every row then trains the retriever
through ``training/retriever.train_and_export`` and is scored by the RetrievalEvaluator's own
``evaluate`` on the same cases: every clicked eval event, the whole catalogue, nothing excluded
(``retrieval_eval.exclude_seen = false`` for every row: an anonymous session has no known past
to exclude), popularity ranked by training clicks. Rows (``--rows``, comma-separated):

* ``session_<encoder>``: ``retrieval.query = "session"`` (the query is the current session's
  items and the time; no user id, attributes or history) with ``sequence_encoder = <encoder>``
  (``mean`` | ``gru`` | ``sasrec``);
* ``user_<encoder>``: today's query tower (the user's features and history, plus the session).

``--validation``: the rows are trained on the first 80% of the training split by time and scored
on its last 20% (``benchmarks/protocol.carve_validation``, raw and transformed examples cut at the
same instant); settings are chosen there, then the eval split is reported once without it.
Results: benchmarks/results/sessions_synthetic.json under ``validation`` / ``test``, each row
recorded as it ends (Recall@10/@100, NDCG@10, MRR, training examples/s, load average).
"""

import argparse
import dataclasses
import json
import os
import statistics
import tempfile

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # Keras 2, before TensorFlow is imported

from benchmarks.machine import record, stamp
from benchmarks.protocol import SPLIT_OVERRIDES, carve_validation
from benchmarks.retrieval import train_and_evaluate
from recsys.config import DEFAULT_CONFIG_PATH, REPO_ROOT, load_config
from recsys.evaluation.metadata import latest_output_uri, overrides
from recsys.features import FeatureConfig
from recsys.pipeline.local_runner import RunPaths, run

RESULTS = os.path.join(REPO_ROOT, "benchmarks", "results", "sessions_synthetic.json")
METRICS = ("recall@10", "recall@100", "ndcg@10", "mrr")
SETTINGS = ("data.dataset=synthetic", "data.sessions=true", "retrieval_eval.exclude_seen=false",
            *SPLIT_OVERRIDES)


def pipeline_outputs(work: str, reuse: bool):
    """(raw examples, transformed examples, Transform graph, features, config) of one pipeline
    run on the session log; ``reuse``: an earlier run's in ``work``."""
    config = load_config(DEFAULT_CONFIG_PATH, [
        f"pipeline.output_dir={work}", *SETTINGS, "train.epochs=1", "retrieval.enabled=false",
        "eval.auc_lower_bound=0"])
    if not reuse:
        run(config)
    store = RunPaths.from_config(config).metadata_path
    return (latest_output_uri(store, "ImportExampleGen", "Examples"),
            latest_output_uri(store, "Transform", "Examples"),
            latest_output_uri(store, "Transform", "TransformGraph"),
            FeatureConfig.load(config.features_path), config)


def validation_split(raw: str, transformed: str, work: str, timestamp_key: str) -> tuple[str, str]:
    """The training split's first 80% by time as ``Split-train`` and its last 20% as
    ``Split-eval``, for the raw and the transformed examples (one cut: the same instant)."""
    out = []
    for name, uri in (("raw", raw), ("transformed", transformed)):
        root = os.path.join(work, "validation", name)
        fit, validation = carve_validation(os.path.join(uri, "Split-train", "*"), root, timestamp_key)
        for split, path in (("train", fit), ("eval", validation)):
            link = os.path.join(root, f"Split-{split}")
            if not os.path.islink(link):
                os.symlink(os.path.dirname(path), link)
        out.append(root)
    return out[0], out[1]


def row_config(name: str, base):
    """``session_gru`` -> the retrieval config of that row (query mode, encoder)."""
    query, _, encoder = name.partition("_")
    if query not in ("session", "user") or encoder not in ("mean", "gru", "sasrec"):
        raise SystemExit(f"--rows: {name!r}; expected session_<encoder> or user_<encoder>, encoder "
                         "mean | gru | sasrec")
    return dataclasses.replace(base, query=query, sequence_encoder=encoder)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", default="session_mean,session_gru,session_sasrec,user_mean")
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--validation", action="store_true", help="score on the training split's last 20%")
    ap.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "bench-sessions"))
    ap.add_argument("--reuse-pipeline", action="store_true")
    ap.add_argument("--set", action="append", default=[], help="retrieval.key=value (bare key: retrieval.)")
    args = ap.parse_args()
    raw, transformed, graph, features, config = pipeline_outputs(args.work, args.reuse_pipeline)
    part = "validation" if args.validation else "test"
    if args.validation:
        raw, transformed = validation_split(raw, transformed, args.work, "timestamp")
    base = load_config(DEFAULT_CONFIG_PATH, overrides(args.set, "retrieval")).retrieval
    rows = {}
    for name in args.rows.split(","):
        retrieval, runs = row_config(name, base), []
        for seed in range(args.seeds):
            load_before = os.getloadavg()[0]
            r, baseline, _ = train_and_evaluate(raw, transformed, graph, features, config,
                                                dataclasses.replace(retrieval, seed=seed))
            r["load_average"] = (load_before + os.getloadavg()[0]) / 2
            runs.append(r)
            print(part, name, seed, json.dumps({m: round(r[m], 4) for m in METRICS}),
                  f"{r['train_examples_per_second']:.0f} ex/s, load {r['load_average']:.1f}", flush=True)
        rows[name] = {**{m: {"mean": statistics.mean(x[m] for x in runs),
                             "runs": [x[m] for x in runs]}
                         for m in METRICS + ("train_examples_per_second", "load_average")},
                      "retrieval_config": dataclasses.asdict(retrieval), "seeds": len(runs),
                      "slices": {k: v for k, v in runs[0]["slices"].items() if k.startswith("user_start")}}
        rows["popularity"] = {m: baseline["overall"][m] for m in METRICS}
        _record(part, rows, runs[0])
    print(json.dumps({n: {m: round(r[m]["mean"] if isinstance(r[m], dict) else r[m], 4)
                          for m in ("recall@10", "recall@100", "ndcg@10")} for n, r in rows.items()}, indent=2))


def _record(part: str, rows: dict, run_: dict) -> None:
    previous = {}
    if os.path.exists(RESULTS):
        with open(RESULTS) as fh:
            previous = json.load(fh)
    kept = previous.get(part, {}).get("rows", {})
    where = ("the training split's last 20% by time (fit on its first 80%)" if part == "validation"
             else "the eval split: the last 20% of time (benchmarks/protocol.py)")
    record(RESULTS, {part: {
        "rows": {**kept, **rows}, "test_cases": run_["count"], "catalog_size": run_["catalog_size"],
        **stamp(), "data": f"synthetic log with sessions ({', '.join(SETTINGS)}); cases: every click "
                           f"of {where}; full catalogue, nothing excluded"}})


if __name__ == "__main__":
    main()
