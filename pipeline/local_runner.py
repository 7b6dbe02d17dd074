"""Thin local runner: LocalDagRunner; Beam runner and MLMD from the config (default: the
DirectRunner, multi-processing, and MLMD in SQLite).

It only fills in paths and runner arguments from the typed config, prepares the input data, runs
``create_pipeline`` and reports what the run left behind (``recsys.evaluation.run_summary``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import time

from recsys.config import Config, check_run_inputs
from recsys.config import schema_path as dataset_schema_path
from recsys.features import FeatureConfig
from recsys.pipeline import metadata_config, run_lock
from recsys.pipeline.beam_args import beam_pipeline_args


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
    return dataset_schema_path(features.dataset)


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


def prepared_rows(data_root: str) -> int | None:
    """Examples the data preparation wrote (its manifest), which ``direct_running_mode = "auto"``
    chooses the Beam mode by; None when there is no manifest."""
    from recsys.data.prepare import prepared_manifest

    try:
        return sum(prepared_manifest(data_root)["counts"].values())
    except (OSError, KeyError):
        return None


def build(config: Config, data_root: str, features: FeatureConfig | None = None):
    from recsys.pipeline.pipeline import code_fingerprint, create_pipeline, schema_feature_spec

    features = features or FeatureConfig.load(config.features_path)
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
        metadata_connection_config=metadata_config.metadata_connection_config(
            config.pipeline.metadata, paths.metadata_path),
        beam_pipeline_args=beam_pipeline_args(config.pipeline.beam, prepared_rows(data_root), local=True),
        enable_cache=config.pipeline.enable_cache)


def run(config: Config) -> dict:
    """Prepare data, run the pipeline, return ``summarize``'s report (plus wall time)."""
    start = time.perf_counter()
    # The source, the feature config (its one read) and its curated schema, before any work.
    features = check_run_inputs(config)
    # A Beam runner or an MLMD backend missing its settings fails here, not after data preparation.
    beam_pipeline_args(config.pipeline.beam)
    metadata_config.check(config.pipeline.metadata)
    paths = RunPaths.from_config(config)
    # Before any work, TFX's import and data preparation included: a second run on this root is
    # refused at once.
    with run_lock.hold(paths.pipeline_root):
        from tfx import v1 as tfx

        from recsys.data.prepare import prepare_data, prepared_manifest
        from recsys.pipeline.pipeline import compile_pipeline
        from recsys.pipeline.progress import ComponentLines

        data_root = prepare_data(config, features=features)
        ir = compile_pipeline(build(config, data_root, features))
        lines = ComponentLines(paths.metadata_path, total=len(ir.nodes))
        absl_logger = logging.getLogger("absl")
        absl_logger.addHandler(lines)  # one terminal line per component (where the CLI shows them)
        try:
            tfx.orchestration.LocalDagRunner().run_with_ir(ir)
        finally:
            absl_logger.removeHandler(lines)
    report = summarize(paths)
    skipped = prepared_manifest(data_root).get("skipped")
    if skipped:  # data.skip_bad_rows: what was dropped and why, also when the data was reused
        report["skipped_rows"] = {"total": sum(skipped.values()), "reasons": skipped}
    report["wall_seconds"] = round(time.perf_counter() - start, 1)
    return report


def runner_started(paths: RunPaths) -> float | None:
    """When the live process running this pipeline started it (unix s), or None when no process
    runs it (never run, finished, or killed: ``run_lock`` tells them apart by its flock)."""
    held = run_lock.holder(paths.pipeline_root)
    return None if held is None else held[1]


def summarize(paths: RunPaths) -> dict:
    """``recsys.evaluation.run_summary.summarize`` for this runner's paths (the run lock tells a
    live run from an interrupted one)."""
    from recsys.evaluation.run_summary import summarize as summarize_run

    return summarize_run(paths, runner_started(paths))
