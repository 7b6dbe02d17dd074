"""What TFMA's confidence intervals cost and tell: the Evaluator's seconds with and without them,
and the 95% interval widths of the overall slice and of the smallest reported slice.

  .venv/bin/python -m benchmarks.intervals                          # default data: off, jackknife
  .venv/bin/python -m benchmarks.intervals --methods off,jackknife,bootstrap
  .venv/bin/python -m benchmarks.intervals --movielens ../shared/data/ml-100k
  .venv/bin/python -m benchmarks.intervals --movielens ../shared/data/ml-100k --methods jackknife \
      --set retrieval.enabled=false --out-prefix /tmp/ml-intervals- --keep
  .venv/bin/python -m benchmarks.intervals --from-run /tmp/run-a --from-run /tmp/run-b

Each method gets a fresh, cold pipeline run (its own output directory, nothing cached, no
baseline: the Evaluator scores one model); ``--from-run`` reads finished runs instead (the
method is read from their stored EvalConfig). The Evaluator's seconds are its MLMD execution's
(created to last update). Results merge into benchmarks/results/intervals.json under
``<data>/<method>``.
"""

import argparse
import json
import os
import shutil
import tempfile

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # Keras 2, before TensorFlow is imported
from benchmarks.machine import record, stamp
from recsys.config import DEFAULT_CONFIG_PATH, REPO_ROOT, load_config
from recsys.evaluation import callouts, report
from recsys.evaluation.eval_result import OVERALL, latest_evaluation_uri, load
from recsys.evaluation.metadata import executions_by_node, open_store
from recsys.pipeline.local_runner import RunPaths, run

RESULTS = os.path.join(REPO_ROOT, "benchmarks", "results", "intervals.json")
METRICS = ("auc", "gauc", "ndcg@10")


def evaluator_seconds(metadata_path: str) -> float:
    [newest, *_] = executions_by_node(open_store(metadata_path))["Evaluator"]
    return (newest.last_update_time_since_epoch - newest.create_time_since_epoch) / 1000.0


def method_of(uri: str) -> str:
    from tensorflow_model_analysis.writers import eval_config_writer

    options = eval_config_writer.load_eval_run(uri)[0].options
    if not options.compute_confidence_intervals.value:
        return "off"
    return {1: "bootstrap", 2: "jackknife"}[options.confidence_intervals.method]


def widths(uri: str) -> dict:
    """Interval widths (upper - lower) of ``METRICS`` on the overall slice and on the smallest
    slice that has each, and how many slices differ from overall (``callouts``)."""
    evaluation = load(uri)
    overall = evaluation.slices[0]
    out = {"overall": {"examples": overall.example_count, "interval_errors": overall.interval_errors}}
    for m in METRICS:
        if m in overall.metrics:
            iv = overall.intervals.get(m)
            out["overall"][m] = {"value": overall.metrics[m],
                                 "interval": list(iv) if iv else None,
                                 "width": iv[1] - iv[0] if iv else None}
    reported = [s for s in evaluation.slices if s.slice != OVERALL and "auc" in s.intervals]
    if reported:
        smallest = min(reported, key=lambda s: s.example_count)
        out["smallest_slice"] = {"slice": smallest.slice, "examples": smallest.example_count}
        for m in METRICS:
            if m in smallest.intervals:
                lo, hi = smallest.intervals[m]
                out["smallest_slice"][m] = {"value": smallest.metrics[m], "interval": [lo, hi],
                                            "width": hi - lo}
    # TFMA's reason per pass where a slice got no interval (eval_result.SliceMetrics.interval_errors)
    errors = [s for s in evaluation.slices if s.interval_errors]
    out["slices_without_intervals"] = {
        "count": len(errors), "of": len(evaluation.slices),
        "example_level": sum("__ERROR__" in s.interval_errors for s in errors),
        "per_user": sum("__ERROR__per_user" in s.interval_errors for s in errors)}
    metric = report.gated_metric(evaluation)
    if metric:
        small = callouts.small_slices(evaluation)
        judged = [d for d in callouts.vs_overall(evaluation, metric) if d.slice not in small]
        out["slices_differing_from_overall"] = {
            "metric": metric, "count": sum(d.significant for d in judged), "of": len(judged),
            "small_slices_not_judged": len(small)}
    if reported:
        judged = [s for s in reported if not callouts.is_small(s, overall.example_count)]
        smallest = min(judged, key=lambda s: s.example_count) if judged else None
        if smallest is not None:
            out["smallest_judged_slice"] = {
                "slice": smallest.slice, "examples": smallest.example_count,
                **{m: {"value": smallest.metrics[m], "interval": list(smallest.intervals[m]),
                       "width": smallest.intervals[m][1] - smallest.intervals[m][0]}
                   for m in METRICS if m in smallest.intervals}}
    return out


def measure(output_dir: str) -> dict:
    metadata = RunPaths.from_config(load_config(DEFAULT_CONFIG_PATH, [
        f"pipeline.output_dir={output_dir}"])).metadata_path
    uri = latest_evaluation_uri(metadata)
    return {"method": method_of(uri), "evaluator_seconds": evaluator_seconds(metadata),
            **widths(uri)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--movielens", default="", help="MovieLens directory; default: synthetic data")
    ap.add_argument("--methods", default="off,jackknife")
    ap.add_argument("--from-run", action="append", default=[],
                    help="a finished run's pipeline.output_dir to read instead of running")
    ap.add_argument("--data-name", default="", help="results key for --from-run runs")
    ap.add_argument("--set", action="append", default=[], dest="overrides",
                    help="a run config override for every run (recorded with the results)")
    ap.add_argument("--out-prefix", default=os.path.join(tempfile.gettempdir(), "bench-intervals-"),
                    help="each run's pipeline.output_dir is <prefix><method>-<random>")
    ap.add_argument("--keep", action="store_true",
                    help="keep each run's directory (printed) to read its TFMA result afterwards")
    args = ap.parse_args()
    name = args.data_name or (os.path.basename(os.path.normpath(args.movielens)) if args.movielens
                              else "synthetic-default")
    entries = {}
    if args.from_run:
        for out in args.from_run:
            entry = measure(out)
            entries[f"{name}/{entry['method']}"] = {**entry, "run": out, **stamp()}
    else:
        for method in args.methods.split(","):
            prefix = f"{args.out_prefix}{method}-"
            out = tempfile.mkdtemp(prefix=os.path.basename(prefix), dir=os.path.dirname(prefix) or None)
            overrides = [f"pipeline.output_dir={out}", f"eval.confidence_intervals={method}"]
            if args.movielens:
                overrides += ["data.dataset=movielens", f"data.source={os.path.abspath(args.movielens)}"]
            overrides += args.overrides
            load_before = os.getloadavg()[1]
            try:
                report_ = run(load_config(DEFAULT_CONFIG_PATH, overrides))
                # The machine is shared: its 5-minute load before and after says how far the
                # seconds are inflated.
                entries[f"{name}/{method}"] = {**measure(out), "wall_seconds": report_["wall_seconds"],
                                               "overrides": overrides[1:],
                                               "load_average_5min": [load_before, os.getloadavg()[1]],
                                               **stamp()}
            finally:
                if args.keep:
                    print(f"kept {method} run: {out}", flush=True)
                else:
                    shutil.rmtree(out, ignore_errors=True)
    record(RESULTS, entries)
    print(json.dumps(entries, indent=2))


if __name__ == "__main__":
    main()
