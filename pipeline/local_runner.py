"""Thin local runner: LocalDagRunner + Beam DirectRunner (multi-processing), MLMD in SQLite.

It only fills in paths and runner arguments from the typed config, prepares the input data, runs
``create_pipeline`` and reports what the run left behind (read back from MLMD).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
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

    @classmethod
    def from_config(cls, config: Config) -> "RunPaths":
        out = os.path.abspath(config.pipeline.output_dir)
        name = config.pipeline.name
        return cls(pipeline_root=os.path.join(out, "pipeline", name),
                   metadata_path=os.path.join(out, "metadata", name, "metadata.db"),
                   serving_dir=os.path.join(os.path.abspath(config.serving_dir), config.pipeline.model_name),
                   retrieval_serving_dir=os.path.join(os.path.abspath(config.serving_dir),
                                                      config.retrieval.model_name))


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

    from pipeline.pipeline import create_pipeline

    features = FeatureConfig.load(config.features_path)
    paths = RunPaths.from_config(config)
    os.makedirs(os.path.dirname(paths.metadata_path), exist_ok=True)
    return create_pipeline(
        pipeline_name=config.pipeline.name, pipeline_root=paths.pipeline_root, data_root=data_root,
        schema_path=pinned_schema(schema_path(features), config.pipeline.output_dir),
        serving_dir=paths.serving_dir,
        retrieval_serving_dir=paths.retrieval_serving_dir, features=features,
        config=config,
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(
            paths.metadata_path),
        beam_pipeline_args=beam_args(config), enable_cache=config.pipeline.enable_cache)


def run(config: Config) -> dict:
    """Prepare data, run the pipeline, return ``summarize``'s report (plus wall time)."""
    from tfx import v1 as tfx

    from data.prepare import prepare_data

    start = time.perf_counter()
    data_root = prepare_data(config)
    tfx.orchestration.LocalDagRunner().run(build(config, data_root))
    report = summarize(RunPaths.from_config(config))
    report["wall_seconds"] = round(time.perf_counter() - start, 1)
    return report


def summarize(paths: RunPaths) -> dict:
    """What the latest run did: per-component state, blessing, key metrics, pushed version."""
    from ml_metadata.proto import metadata_store_pb2

    from pipeline.metadata import executions_by_node, open_store, outputs

    store = open_store(paths.metadata_path)
    states = {v: k for k, v in metadata_store_pb2.Execution.State.items()}
    latest = {node: runs[0] for node, runs in executions_by_node(store).items() if runs}
    report: dict = {"components": {k: states[e.last_known_state] for k, e in sorted(latest.items())}}

    ranker = outputs(store, latest["Evaluator"].id) if "Evaluator" in latest else {}
    if "ModelBlessing" in ranker:
        report["blessed"] = bool(ranker["ModelBlessing"].custom_properties["blessed"].int_value)
        report["evaluation_uri"] = ranker["ModelEvaluation"].uri
        report["metrics"] = overall_metrics(report["evaluation_uri"])
    report["pushed_versions"] = _versions(paths.serving_dir)
    report["serving_dir"] = paths.serving_dir

    retriever = outputs(store, latest["RetrievalEvaluator"].id) if "RetrievalEvaluator" in latest else {}
    if "ModelBlessing" in retriever:
        from recsys.retrieval_metrics import METRICS_FILE

        uri = retriever["ModelEvaluation"].uri
        with open(os.path.join(uri, METRICS_FILE)) as fh:
            result = json.load(fh)
        report["retrieval"] = {
            "blessed": bool(retriever["ModelBlessing"].custom_properties["blessed"].int_value),
            "evaluation_uri": uri, "metrics": result["overall"],
            "popularity_baseline": result["baseline"]["overall"], "failures": result["failures"],
            "pushed_versions": _versions(paths.retrieval_serving_dir),
            "serving_dir": paths.retrieval_serving_dir}
    return report


def _versions(path: str) -> list[str]:
    return sorted(os.listdir(path)) if os.path.isdir(path) else []


def overall_metrics(evaluation_uri: str) -> dict[str, float]:
    """The candidate's overall-slice metrics, flat names (``auc``, ``gauc``, ``ndcg@10``, ...)."""
    from pipeline.eval_result import load

    return load(evaluation_uri).overall


def main(config: Config) -> dict:
    report = run(config)
    print(json.dumps(report, indent=2))
    return report
