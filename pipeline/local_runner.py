"""Thin local runner: LocalDagRunner + Beam DirectRunner (multi-processing), MLMD in SQLite.

It only fills in paths and runner arguments from the typed config, prepares the input data, runs
``create_pipeline`` and reports what the run left behind (read back from MLMD).
"""

from __future__ import annotations

import dataclasses
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

    @classmethod
    def from_config(cls, config: Config) -> "RunPaths":
        out = os.path.abspath(config.pipeline.output_dir)
        name = config.pipeline.name
        return cls(pipeline_root=os.path.join(out, "pipeline", name),
                   metadata_path=os.path.join(out, "metadata", name, "metadata.db"),
                   serving_dir=os.path.join(os.path.abspath(config.serving_dir), config.pipeline.model_name))


def schema_path(features: FeatureConfig) -> str:
    return os.path.join(REPO_ROOT, "configs", "schemas", f"{features.dataset}.pbtxt")


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
        schema_path=schema_path(features), serving_dir=paths.serving_dir, features=features,
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
    import ml_metadata as mlmd
    from ml_metadata.proto import metadata_store_pb2

    cfg = metadata_store_pb2.ConnectionConfig()
    cfg.sqlite.filename_uri = paths.metadata_path
    store = mlmd.MetadataStore(cfg)
    states = {v: k for k, v in metadata_store_pb2.Execution.State.items()}
    latest: dict[str, tuple[int, str]] = {}
    for ex in store.get_executions():
        node = ex.custom_properties["component_id"].string_value if "component_id" in \
            ex.custom_properties else store.get_execution_types_by_id([ex.type_id])[0].name
        node = node.rsplit(".", 1)[-1]
        if node not in latest or ex.id > latest[node][0]:
            latest[node] = (ex.id, states[ex.last_known_state])
    report: dict = {"components": {k: v[1] for k, v in sorted(latest.items())}}

    blessings = store.get_artifacts_by_type("ModelBlessing")
    if blessings:
        b = max(blessings, key=lambda a: a.id)
        report["blessed"] = bool(b.custom_properties["blessed"].int_value)
        report["evaluation_uri"] = max(store.get_artifacts_by_type("ModelEvaluation"),
                                       key=lambda a: a.id).uri
        report["metrics"] = overall_metrics(report["evaluation_uri"])
    versions = sorted(os.listdir(paths.serving_dir)) if os.path.isdir(paths.serving_dir) else []
    report["pushed_versions"] = versions
    report["serving_dir"] = paths.serving_dir
    return report


def overall_metrics(evaluation_uri: str) -> dict[str, float]:
    """The candidate's overall-slice metrics, flat names (``auc``, ``gauc``, ``ndcg@10``, ...)."""
    from pipeline.eval_result import load

    return load(evaluation_uri).overall


def main(config: Config) -> dict:
    report = run(config)
    print(json.dumps(report, indent=2))
    return report
