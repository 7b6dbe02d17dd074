"""Thin Kubeflow Pipelines v2 / Vertex AI Pipelines runner: the same ``create_pipeline`` as the
local runner, compiled by TFX's ``KubeflowV2DagRunner`` to a PipelineSpec JSON (a
``PipelineJob``) that ``kfp``'s client or Vertex AI's ``PipelineJob(template_path=...)`` submits.

It only fills in paths (pipeline root, serving directories and the pinned curated schema under
``pipeline.output_dir``, typically a ``gs://`` bucket), the container image every component runs
in (a TFX image with this package installed) and the Beam arguments from ``pipeline.beam``
(usually DataflowRunner there). ML Metadata is the cluster's: no connection config is compiled in.

    python -m recsys.pipeline.kubeflow_runner --image europe-docker.pkg.dev/p/r/recsys:1 \\
        --data-root gs://bucket/data --output pipeline.json \\
        --set pipeline.output_dir=gs://bucket/runs --set pipeline.beam.runner=DataflowRunner ...
"""

from __future__ import annotations

import argparse
import json
import os

from recsys.config import Config, load_config, DEFAULT_CONFIG_PATH
from recsys.features import FeatureConfig
from recsys.pipeline.beam_args import beam_pipeline_args
from recsys.pipeline.local_runner import pinned_schema, schema_path


def _join(root: str, *parts: str) -> str:
    """``os.path.join`` that keeps a ``gs://`` root as it is (no abspath)."""
    return os.path.join(root if "://" in root else os.path.abspath(root), *parts)


def compile_pipeline_spec(config: Config, *, image: str, data_root: str, output_path: str,
                          features: FeatureConfig | None = None) -> dict:
    """Writes the PipelineJob JSON to ``output_path`` and returns it."""
    # kfp-pipeline-spec (the lock pins it) is what this runner needs beyond TFX.
    from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner

    from recsys.pipeline.pipeline import NEVER_CACHED, code_fingerprint, create_pipeline, \
        schema_feature_spec

    features = features or FeatureConfig.load(config.features_path)
    out, name = config.pipeline.output_dir, config.pipeline.name
    serving_root = config.pipeline.serving_dir or _join(out, "serving")
    local_schema = schema_path(features)
    pipeline = create_pipeline(
        pipeline_name=name, pipeline_root=_join(out, "pipeline", name), data_root=data_root,
        schema_path=pinned_schema(local_schema, out), schema_spec=schema_feature_spec(local_schema),
        code_version=code_fingerprint(), features=features, config=config,
        serving_dir=_join(serving_root, config.pipeline.model_name),
        retrieval_serving_dir=_join(serving_root, config.retrieval.model_name),
        serving_root=serving_root, beam_pipeline_args=beam_pipeline_args(config.pipeline.beam),
        enable_cache=config.pipeline.enable_cache,
        # KubeflowV2DagRunner compiles only TFX's own resolver strategies (LatestArtifact,
        # LatestBlessedModel): there the baseline is the latest blessed model, without the local
        # runner's comparability check (components/baseline_resolver.py).
        comparable_baseline=False)
    runner = kubeflow_v2_dag_runner.KubeflowV2DagRunner(
        config=kubeflow_v2_dag_runner.KubeflowV2DagRunnerConfig(default_image=image),
        output_dir=os.path.dirname(os.path.abspath(output_path)),
        output_filename=os.path.basename(output_path))
    job = runner.run(pipeline, write_out=False)
    # TFX's DSL sets caching per pipeline; the local runner turns it off per node in the IR
    # (pipeline.compile_pipeline), here in the PipelineSpec's tasks.
    for task_name, task in job["pipelineSpec"]["root"]["dag"]["tasks"].items():
        if task_name in NEVER_CACHED:
            task.setdefault("cachingOptions", {})["enableCache"] = False
    with open(output_path, "w") as fh:
        json.dump(job, fh, indent=2, sort_keys=True)
    return job


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--image", required=True, help="container image with tfx and this package")
    p.add_argument("--data-root", required=True, help="prepared tf.Examples (recsys prepare)")
    p.add_argument("--output", default="pipeline.json")
    p.add_argument("--config", default=DEFAULT_CONFIG_PATH)
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    a = p.parse_args(argv)
    job = compile_pipeline_spec(load_config(a.config, a.set), image=a.image,
                                data_root=a.data_root, output_path=a.output)
    print(f"{a.output}: {len(job['pipelineSpec']['root']['dag']['tasks'])} tasks")


if __name__ == "__main__":
    main()
