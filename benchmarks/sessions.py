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

Each row is scored twice: on every clicked eval event (``all``), and on the **session
continuations** only (``continuations``: clicks whose session has an earlier click, i.e. a
non-empty ``session_history``), the session-based protocol of GRU4Rec (Hidasi et al. 2016), where
a session's first click is the query, never a target. The popularity row is scored the same way.

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
from benchmarks.retrieval import run_outputs, train_and_evaluate
from recsys.config import DEFAULT_CONFIG_PATH, REPO_ROOT, load_config
from recsys.evaluation.metadata import overrides
from recsys.evaluation.retrieval import evaluate
from recsys.pipeline.local_runner import run

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
    return run_outputs(config)


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


def continuations(raw: str, work: str, key: str = "session_history") -> str:
    """A copy of the raw examples' layout whose ``Split-eval`` holds only the cases with a non-empty
    ``key`` (``Split-train`` is linked unchanged: exclusions and popularity come from it)."""
    import glob

    import tensorflow as tf

    root = os.path.join(work, "continuations")
    os.makedirs(os.path.join(root, "Split-eval"), exist_ok=True)
    if not os.path.islink(os.path.join(root, "Split-train")):
        os.symlink(os.path.realpath(os.path.join(raw, "Split-train")), os.path.join(root, "Split-train"))
    files = sorted(glob.glob(os.path.join(raw, "Split-eval", "*")))
    with tf.io.TFRecordWriter(os.path.join(root, "Split-eval", "data.tfrecord.gz"), "GZIP") as w:
        for r in tf.data.TFRecordDataset(files, compression_type="GZIP").as_numpy_iterator():
            if tf.train.Example.FromString(r).features.feature[key].bytes_list.value:
                w.write(r)
    return root


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
    cases = {"all": raw, "continuations": continuations(raw, os.path.join(args.work, part))}
    base = load_config(DEFAULT_CONFIG_PATH, overrides(args.set, "retrieval")).retrieval
    rows = {}
    for name in args.rows.split(","):
        retrieval, runs = row_config(name, base), []
        for seed in range(args.seeds):
            load_before = os.getloadavg()[0]
            r, baseline, model_dir = train_and_evaluate(raw, transformed, graph, features, config,
                                                        dataclasses.replace(retrieval, seed=seed))
            r["load_average"] = (load_before + os.getloadavg()[0]) / 2
            scored = {"all": (r, baseline["overall"])}
            for kind, uri in cases.items():
                if kind != "all":
                    e = evaluate(uri, model_dir, features, config.retrieval_eval)
                    scored[kind] = ({**e["overall"], "count": e["test_cases"]}, e["baseline"]["overall"])
            runs.append(scored)
            for kind, (x, _) in scored.items():
                print(part, kind, name, seed, json.dumps({m: round(x[m], 4) for m in METRICS}),
                      f"{r['train_examples_per_second']:.0f} ex/s, load {r['load_average']:.1f}", flush=True)
        for kind in cases:
            rows.setdefault(kind, {})[name] = {
                **{m: {"mean": statistics.mean(x[kind][0][m] for x in runs),
                       "runs": [x[kind][0][m] for x in runs]} for m in METRICS},
                **{m: {"mean": statistics.mean(x["all"][0][m] for x in runs)}
                   for m in ("train_examples_per_second", "load_average")},
                "retrieval_config": dataclasses.asdict(retrieval), "seeds": len(runs)}
            rows[kind]["popularity"] = {m: runs[0][kind][1][m] for m in METRICS}
            _record(part, kind, rows[kind], runs[0][kind][0]["count"], r["catalog_size"])
    print(json.dumps({k: {n: {m: round(r[m]["mean"] if isinstance(r[m], dict) else r[m], 4)
                              for m in ("recall@10", "recall@100", "ndcg@10")} for n, r in v.items()}
                      for k, v in rows.items()}, indent=2))


def _record(part: str, kind: str, rows: dict, count: int, catalog_size: int) -> None:
    """Merge ``rows`` into ``<part>.<kind>`` of the results (other rows and entries kept)."""
    previous = {}
    if os.path.exists(RESULTS):
        with open(RESULTS) as fh:
            previous = json.load(fh)
    entries = previous.get(part, {})
    kept = entries.get(kind, {}).get("rows", {})
    where = ("the training split's last 20% by time (fit on its first 80%)" if part == "validation"
             else "the eval split: the last 20% of time (benchmarks/protocol.py)")
    which = "every click" if kind == "all" else "every click with an earlier click in its session"
    entries[kind] = {
        "rows": {**kept, **rows}, "test_cases": count, "catalog_size": catalog_size, **stamp(),
        "data": f"synthetic log with sessions ({', '.join(SETTINGS)}); cases: {which} of {where}; "
                "full catalogue, nothing excluded"}
    record(RESULTS, {part: entries})


if __name__ == "__main__":
    main()
