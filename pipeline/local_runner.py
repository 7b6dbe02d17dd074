"""Thin local runner: LocalDagRunner + Beam DirectRunner (multi-processing), MLMD in SQLite.

It only fills in paths and runner arguments from the typed config, prepares the input data, runs
``create_pipeline`` and reports what the run left behind (read back from MLMD).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import time

from recsys.config import REPO_ROOT, Config
from recsys.features import FeatureConfig


@dataclasses.dataclass
class RunPaths:
    pipeline_root: str
    metadata_path: str
    serving_dir: str  # <serving_dir>/<model_name>; versions are its sub-directories
    retrieval_serving_dir: str  # <serving_dir>/<retrieval.model_name>
    serving_root: str = ""  # config.serving_dir itself: TF Serving's root, deployments/ under it

    @classmethod
    def from_config(cls, config: Config) -> "RunPaths":
        out = os.path.abspath(config.pipeline.output_dir)
        name = config.pipeline.name
        root = os.path.abspath(config.serving_dir)
        return cls(pipeline_root=os.path.join(out, "pipeline", name),
                   metadata_path=os.path.join(out, "metadata", name, "metadata.db"),
                   serving_dir=os.path.join(root, config.pipeline.model_name),
                   retrieval_serving_dir=os.path.join(root, config.retrieval.model_name),
                   serving_root=root)


def schema_path(features: FeatureConfig) -> str:
    return os.path.join(REPO_ROOT, "configs", "schemas", f"{features.dataset}.pbtxt")


def pinned_schema(source: str, output_dir: str) -> str:
    """``source`` copied to ``<output_dir>/schemas/<content hash>/schema.pbtxt``.

    ImportSchemaGen's cache key is the schema *path*: an edited curated schema at the same path
    would be served stale from the cache (and then reject the very features it now declares).
    A content-addressed copy makes every edit a new path, hence a cache miss.
    """
    with open(source, "rb") as fh:
        data = fh.read()
    target = os.path.join(os.path.abspath(output_dir), "schemas",
                          hashlib.sha256(data).hexdigest()[:16], "schema.pbtxt")
    if not os.path.exists(target):
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target + ".tmp", "wb") as fh:
            fh.write(data)
        os.replace(target + ".tmp", target)
    return target


def beam_args(config: Config) -> list[str]:
    workers = config.pipeline.beam_workers or os.cpu_count() or 1
    return ["--direct_running_mode=" + config.pipeline.beam_running_mode,
            f"--direct_num_workers={workers}"]


def build(config: Config, data_root: str):
    from tfx import v1 as tfx

    from recsys.pipeline.pipeline import code_fingerprint, create_pipeline, schema_feature_spec

    features = FeatureConfig.load(config.features_path)
    paths = RunPaths.from_config(config)
    os.makedirs(os.path.dirname(paths.metadata_path), exist_ok=True)
    schema = pinned_schema(schema_path(features), config.pipeline.output_dir)
    return create_pipeline(
        pipeline_name=config.pipeline.name, pipeline_root=paths.pipeline_root, data_root=data_root,
        schema_path=schema, schema_spec=schema_feature_spec(schema), code_version=code_fingerprint(),
        serving_dir=paths.serving_dir,
        retrieval_serving_dir=paths.retrieval_serving_dir, serving_root=paths.serving_root,
        features=features,
        config=config,
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(
            paths.metadata_path),
        beam_pipeline_args=beam_args(config), enable_cache=config.pipeline.enable_cache)


def run(config: Config) -> dict:
    """Prepare data, run the pipeline, return ``summarize``'s report (plus wall time)."""
    from tfx import v1 as tfx

    from recsys.data.prepare import prepare_data
    from recsys.pipeline.pipeline import compile_pipeline
    from recsys.pipeline.progress import ComponentLines

    start = time.perf_counter()
    data_root = prepare_data(config)
    paths = RunPaths.from_config(config)
    ir = compile_pipeline(build(config, data_root))
    lines = ComponentLines(paths.metadata_path, total=len(ir.nodes))
    absl_logger = logging.getLogger("absl")
    absl_logger.addHandler(lines)  # one terminal line per component (where the CLI shows them)
    try:
        with runner_pid_file(paths):
            tfx.orchestration.LocalDagRunner().run_with_ir(ir)
    finally:
        absl_logger.removeHandler(lines)
    report = summarize(paths)
    report["wall_seconds"] = round(time.perf_counter() - start, 1)
    return report


def _runner_pid_path(paths: RunPaths) -> str:
    return os.path.join(os.path.dirname(paths.metadata_path), "runner.pid")


@contextlib.contextmanager
def runner_pid_file(paths: RunPaths):
    """Marks the pipeline as being run by this process while the block runs.

    MLMD records an execution as RUNNING when it starts and never hears of it again if the
    process is killed; ``summarize`` uses this file to tell a live run from an interrupted one.
    """
    path = _runner_pid_path(paths)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".tmp", "w") as fh:
        fh.write(str(os.getpid()))
    os.replace(path + ".tmp", path)
    try:
        yield path
    finally:
        try:
            with open(path) as fh:
                ours = fh.read().strip() == str(os.getpid())  # a later run may have taken it over
            if ours:
                os.remove(path)
        except OSError:
            pass


def runner_started(paths: RunPaths) -> float | None:
    """When the live process running this pipeline started it (unix s), or None when no process
    runs it (no pid file, or the process that wrote it is gone: killed)."""
    path = _runner_pid_path(paths)
    try:
        with open(path) as fh:
            pid = int(fh.read().strip())
        started = os.path.getmtime(path)
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)  # signal 0: existence check only
    except PermissionError:
        return started  # alive, another user's
    except (OSError, OverflowError):
        return None
    return started


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


def summarize(paths: RunPaths) -> dict:
    """What the latest run did: per-component state, blessing, key metrics, served versions and
    the current deployment (which ranker and retriever versions are served together)."""
    from recsys.evaluation.metadata import executions_by_node, open_store, outputs
    from recsys.serving.deployment import latest_deployment

    store = open_store(paths.metadata_path)
    by_node = executions_by_node(store)
    latest = {node: runs[0] for node, runs in by_node.items() if runs}
    report: dict = {"components": component_states(by_node, runner_started(paths))}

    ranker = outputs(store, latest["Evaluator"].id) if "Evaluator" in latest else {}
    if "ModelBlessing" in ranker:
        report["blessed"] = bool(ranker["ModelBlessing"].custom_properties["blessed"].int_value)
        report["evaluation_uri"] = ranker["ModelEvaluation"].uri
        report["metrics"] = overall_metrics(report["evaluation_uri"])
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


def overall_metrics(evaluation_uri: str) -> dict[str, float]:
    """The candidate's overall-slice metrics, flat names (``auc``, ``gauc``, ``ndcg@10``, ...)."""
    from recsys.evaluation.eval_result import load

    return load(evaluation_uri).overall
