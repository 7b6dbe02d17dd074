"""What a pipeline run did, read back from its MLMD store: each component's state, the ranker's
and the retriever's verdict and metrics, the pushed versions and the current deployment
(``recsys summary``, the report ``recsys run`` ends with)."""

from __future__ import annotations

import json
import os


def component_states(executions: dict, runner_started_at: float | None) -> dict[str, str]:
    """Node id -> state name of its newest execution (``executions``: node -> newest first).

    MLMD keeps an execution NEW or RUNNING forever when its process is killed. One that is
    unfinished while no process runs the pipeline (``runner_started_at`` None), or that was
    created before the live run started, was interrupted: ``FAILED (interrupted)``.
    """
    from ml_metadata.proto import metadata_store_pb2

    names = {v: k for k, v in metadata_store_pb2.Execution.State.items()}
    unfinished = {metadata_store_pb2.Execution.NEW, metadata_store_pb2.Execution.RUNNING}
    out = {}
    for node, runs in sorted(executions.items()):
        if not runs:
            continue
        e = runs[0]
        interrupted = e.last_known_state in unfinished and (
            runner_started_at is None or e.create_time_since_epoch < runner_started_at * 1000)
        out[node] = "FAILED (interrupted)" if interrupted else names[e.last_known_state]
    return out


def summarize(paths, runner_started_at: float | None) -> dict:
    """What the latest run did: per-component state, blessing, key metrics, served versions and
    the current deployment (which ranker and retriever versions are served together).
    ``paths``: the run's ``metadata_path``, ``serving_dir``, ``retrieval_serving_dir`` and
    ``serving_root`` (``pipeline.local_runner.RunPaths``); ``runner_started_at``: when the live
    process running the pipeline started it, None if none runs it."""
    from recsys.evaluation.metadata import executions_by_node, open_store, outputs
    from recsys.serving.deployment import latest_deployment

    store = open_store(paths.metadata_path)
    by_node = executions_by_node(store)
    latest = {node: runs[0] for node, runs in by_node.items() if runs}
    report: dict = {"components": component_states(by_node, runner_started_at)}

    ranker = outputs(store, latest["Evaluator"].id) if "Evaluator" in latest else {}
    if "ModelBlessing" in ranker:
        report["blessed"] = bool(ranker["ModelBlessing"].custom_properties["blessed"].int_value)
        report["evaluation_uri"] = ranker["ModelEvaluation"].uri
        report.update(ranker_figures(report["evaluation_uri"]))
    report["pushed_versions"] = _versions(paths.serving_dir)
    report["serving_dir"] = paths.serving_dir

    retriever = outputs(store, latest["RetrievalEvaluator"].id) if "RetrievalEvaluator" in latest else {}
    if "ModelBlessing" in retriever:
        from recsys.evaluation.retrieval_metrics import METRICS_FILE

        uri = retriever["ModelEvaluation"].uri
        with open(os.path.join(uri, METRICS_FILE)) as fh:
            result = json.load(fh)
        report["retrieval"] = {
            "blessed": bool(retriever["ModelBlessing"].custom_properties["blessed"].int_value),
            "evaluation_uri": uri, "metrics": result["overall"],
            "popularity_baseline": result["baseline"]["overall"], "failures": result["failures"],
            "pushed_versions": _versions(paths.retrieval_serving_dir),
            "serving_dir": paths.retrieval_serving_dir}

    deployment = latest_deployment(paths.serving_root) if paths.serving_root else None
    report["deployment"] = None if deployment is None else {
        "id": deployment["id"], "run_id": deployment["run_id"],
        "models": {name: str(m["version"]) for name, m in deployment["models"].items()}}
    return report


def _versions(path: str) -> list[str]:
    """Complete pushed versions only: a killed or tampered push is not reported as served."""
    from recsys.serving.versions import complete_versions

    return [str(v) for v in complete_versions(path)]


def ranker_figures(evaluation_uri: str) -> dict:
    """The overall metrics, those undefined there, and with TFMA's intervals: each metric's 95%
    interval, each headline metric's change against the baseline with its interval, and the
    differences that are more than noise (``callouts.py``), in words."""
    from recsys.evaluation import report
    from recsys.evaluation.eval_result import load

    evaluation = load(evaluation_uri)
    out: dict = {"metrics": evaluation.overall}
    overall = evaluation.slices[0] if evaluation.overall else None
    if overall is not None and overall.undefined:
        # JSON has no NaN: an undefined metric is named here with why, not printed
        out["metrics_undefined"] = overall.undefined
    if overall is not None and overall.intervals:
        out["metric_intervals"] = {m: list(iv) for m, iv in overall.intervals.items()}
    changes = {m: {"change": d, **({"interval": list(d_iv)} if d_iv else {})}
               for m, _, _, _, d, d_iv in report.headline_rows(evaluation) if d is not None}
    if changes:
        out["vs_baseline"] = changes
    lines = report.callout_lines(evaluation)
    if lines:
        out["called_out"] = lines
    return out


def overall_metrics(evaluation_uri: str) -> tuple[dict[str, float], dict[str, str]]:
    """The candidate's overall-slice metrics, flat names (``auc``, ``gauc``, ``ndcg@10``, ...),
    and the ones undefined there (name -> why; e.g. GAUC when no user has both labels)."""
    from recsys.evaluation.eval_result import load

    evaluation = load(evaluation_uri)
    return evaluation.overall, (evaluation.slices[0].undefined if evaluation.overall else {})
