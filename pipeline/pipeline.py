"""``create_pipeline``: the TFX DAG as a pure factory: everything arrives as an argument (paths, the
schema's feature spec, the code fingerprint, the module functions, the config); it reads no file.

ExampleGen -> StatisticsGen -> SchemaGen (curated, imported) -> ExampleValidator -> AnomaliesGate
-> Transform -> Trainer -> Evaluator (vs. the last blessed model comparable with this run:
``components/baseline_resolver.py``) -> Pusher (never twice the same model:
``components/pusher.py``), and from the same Transform: RetrievalTrainer (two towers) ->
RetrievalEvaluator (full-catalogue recall vs. popularity, its own gate) -> RetrievalPusher.
Both pushers version by pipeline run and publish each version atomically; the DeploymentRecorder
(``components/deployment_recorder.py``) then records which ranker and retriever versions this run
deploys together under ``<serving_root>/deployments/`` (``serving/deployment.py``).
Runners (``pipeline/local_runner.py``) fill in paths, Beam arguments, the schema's spec and the
code fingerprint (``schema_feature_spec`` and ``code_fingerprint`` here).
"""

from __future__ import annotations

import dataclasses
import json
import os

import tensorflow_data_validation as tfdv
from tfx import v1 as tfx
from tfx.dsl.components.base import executor_spec

from recsys.components.anomalies_gate import AnomaliesGate
from recsys.components.deployment_recorder import DeploymentRecorder
from recsys.components.example_gen import StreamingImportExampleGen
from recsys.components.baseline_resolver import ComparableBlessedModelStrategy, resolver_config
from recsys.evaluation import jackknife_partition
from recsys.evaluation.eval_config import eval_config
from recsys.components.pusher import IdempotentPusherExecutor
from recsys.components.retrieval_evaluator import RetrievalEvaluator
from recsys.config import Config
from recsys.features import FeatureConfig
from recsys.fingerprint import source_fingerprint
from recsys.pipeline.beam_args import evaluator_args, example_gen_args
from recsys.training.comparability import comparability_record

# The code Transform, the Trainers and TFMA import by name (cache keys: ``code_fingerprint``).
PACKAGE_DIRS = ("components", "models", "training", "evaluation", "recsys")


@dataclasses.dataclass(frozen=True)
class Modules:
    """The TFX module functions, by dotted name (the components import them in their process)."""

    preprocessing_fn: str = "recsys.components.transform.preprocessing_fn"
    run_fn: str = "recsys.components.trainer.run_fn"
    retrieval_run_fn: str = "recsys.components.retrieval_trainer.run_fn"

# Nodes that run in every pipeline run, whatever the cache. The DeploymentRecorder's record must
# name this run's models: cached, it would keep a newer record current after a run that went
# back to an earlier combination of pushed models (its inputs unchanged since that earlier run).
NEVER_CACHED = ("DeploymentRecorder",)


def compile_pipeline(pipeline: tfx.dsl.Pipeline):
    """The pipeline's IR, with caching off for ``NEVER_CACHED`` nodes (TFX's DSL sets caching
    per pipeline only). Runners run this with ``run_with_ir`` instead of ``run(pipeline)``."""
    from tfx.dsl.compiler import compiler
    from tfx.dsl.components.base import base_component

    for component in pipeline.components:  # what TfxRunner.run does before compiling
        if isinstance(component, base_component.BaseComponent):
            component._resolve_pip_dependencies(pipeline.pipeline_info.pipeline_root)  # noqa: SLF001
    ir = compiler.Compiler().compile(pipeline)
    for node in ir.nodes:
        if node.pipeline_node.node_info.id in NEVER_CACHED:
            node.pipeline_node.execution_options.caching_options.enable_cache = False
    return ir


def code_fingerprint() -> str:
    """Hash of the code that Transform and the Trainer import by name.

    TFX keys its cache on component inputs and parameters; a ``preprocessing_fn``/``run_fn`` given
    as a dotted path is just a string, so without this an edited model file would be served from
    the cache. Passing the hash in ``custom_config`` makes any code change a cache miss.
    """
    return source_fingerprint(*PACKAGE_DIRS)


def example_gen_configs(split: str, eval_fraction: float, partition_key: str):
    """(input_config, output_config) for ImportExampleGen.

    hash: one input, split by a stable hash of ``partition_key`` (farmhash buckets, 1/20 each).
    temporal, leave_last_out: the data was written as train/ and eval/ (``data/prepare.py``).
    """
    if split == "hash":
        eval_buckets = round(eval_fraction * 20)
        if not 0 < eval_buckets < 20:
            raise ValueError(f"data.eval_fraction={eval_fraction}; expected within (0.025, 0.975)")
        output = tfx.proto.Output(split_config=tfx.proto.SplitConfig(
            splits=[tfx.proto.SplitConfig.Split(name="train", hash_buckets=20 - eval_buckets),
                    tfx.proto.SplitConfig.Split(name="eval", hash_buckets=eval_buckets)],
            partition_feature_name=partition_key))
        return tfx.proto.Input(splits=[tfx.proto.Input.Split(name="all", pattern="data/*")]), output
    if split in ("temporal", "leave_last_out"):
        return tfx.proto.Input(splits=[tfx.proto.Input.Split(name="train", pattern="train/*"),
                                       tfx.proto.Input.Split(name="eval", pattern="eval/*")]), None
    raise ValueError(f"data.split={split!r}; expected 'hash', 'temporal' or 'leave_last_out'")


def schema_feature_spec(schema_path: str) -> dict:
    """The raw ``tf.io`` feature spec of the schema this run's examples are validated against
    (what Transform's ``raw_feature_spec()`` will be)."""
    from tensorflow_metadata.proto.v0 import schema_pb2
    from tensorflow_transform.tf_metadata import schema_utils
    from tfx.utils import io_utils

    schema = io_utils.parse_pbtxt_file(schema_path, schema_pb2.Schema())
    return schema_utils.schema_as_feature_spec(schema).feature_spec


def _pusher(model, blessing, serving_dir: str):
    return tfx.components.Pusher(
        model=model, model_blessing=blessing,
        custom_executor_spec=executor_spec.ExecutorClassSpec(IdempotentPusherExecutor),
        push_destination=tfx.proto.PushDestination(filesystem=tfx.proto.PushDestination.Filesystem(
            base_directory=serving_dir)))


def create_pipeline(*, pipeline_name: str, pipeline_root: str, data_root: str, schema_path: str,
                    schema_spec: dict, code_version: str, serving_dir: str,
                    features: FeatureConfig, config: Config, modules: Modules = Modules(),
                    retrieval_serving_dir: str | None = None, serving_root: str | None = None,
                    metadata_connection_config=None, beam_pipeline_args: list[str] | None = None,
                    enable_cache: bool = True,
                    comparable_baseline: bool = True) -> tfx.dsl.Pipeline:
    """The DAG. ``schema_spec``: the raw feature spec of the schema at ``schema_path``
    (``schema_feature_spec``), what a baseline model must parse; ``code_version``: the fingerprint
    of the code the modules import (``code_fingerprint``), so an edited model misses the cache.
    ``comparable_baseline=False``: the Evaluator's baseline is TFX's latest blessed model, whatever
    it was trained on (Kubeflow Pipelines v2 compiles only TFX's own resolver strategies)."""
    input_config, output_config = example_gen_configs(
        config.data.split, config.data.eval_fraction, features.example_id_key)
    # TFX's ImportExampleGen without its Reshuffle, which holds every example in memory on the
    # DirectRunner (components/example_gen.py says why).
    example_gen = StreamingImportExampleGen(
        input_base=data_root, input_config=input_config, output_config=output_config,
    ).with_id("ImportExampleGen")
    own_flags = example_gen_args(config.pipeline.beam)
    if own_flags:  # workers under "auto": one file per worker
        example_gen.with_beam_pipeline_args(own_flags)
    statistics_gen = tfx.components.StatisticsGen(
        examples=example_gen.outputs["examples"],
        stats_options=tfdv.StatsOptions(
            use_sketch_based_topk_uniques=config.pipeline.statistics_sketches))
    schema_gen = tfx.components.ImportSchemaGen(schema_file=schema_path)
    example_validator = tfx.components.ExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema_gen.outputs["schema"])
    anomalies_gate = AnomaliesGate(anomalies=example_validator.outputs["anomalies"])

    user_config = {"features": features.to_dict(), "code_version": code_version}
    distribute = {"distribute": config.to_dict()["distribute"]}  # both Trainers' tf.distribute strategy
    transform = tfx.components.Transform(
        examples=example_gen.outputs["examples"], schema=schema_gen.outputs["schema"],
        preprocessing_fn=modules.preprocessing_fn, custom_config=user_config,
        disable_statistics=not config.pipeline.transform_statistics)
    transform.add_upstream_node(anomalies_gate)  # no training on data that failed validation

    trainer = tfx.components.Trainer(
        run_fn=modules.run_fn,
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=schema_gen.outputs["schema"],
        custom_config={**user_config, "train": config.to_dict()["train"],
                       "testing": config.to_dict()["testing"], **distribute})

    # Only a model that can be scored on these examples with this label is a baseline; after a
    # change of dataset, label mode or schema the Evaluator runs without one (as on a first run).
    current = comparability_record(features, config.train.label_mode, schema_spec,
                                   config.train.multitask.mode)
    strategy = (dict(strategy_class=ComparableBlessedModelStrategy, config=resolver_config(current))
                if comparable_baseline else
                dict(strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy))
    model_resolver = tfx.dsl.Resolver(
        **strategy,
        model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
        model_blessing=tfx.dsl.Channel(type=tfx.types.standard_artifacts.ModelBlessing),
    ).with_id("latest_blessed_model_resolver")

    if config.eval.confidence_intervals == "jackknife":
        # TFMA 0.47's jackknife gives every Beam worker the same bucket sequence; this process
        # builds the Evaluator's graph (LocalDagRunner runs executors in-process), so patching
        # here fixes it for local runs (evaluation/jackknife_partition.py says why).
        jackknife_partition.install()
    evaluator = tfx.components.Evaluator(
        examples=example_gen.outputs["examples"], model=trainer.outputs["model"],
        baseline_model=model_resolver.outputs["model"],
        eval_config=eval_config(features, config.eval, config.train.label_mode,
                                config.train.multitask.mode))
    # Its own DirectRunner workers: one process with intervals (TFMA 0.47 loses resamples across
    # processes), every worker under "auto" (beam_args.evaluator_args says why).
    own_args = evaluator_args(config.pipeline.beam, config.eval.confidence_intervals != "off")
    if own_args:
        evaluator.with_beam_pipeline_args(own_args)

    pusher = _pusher(trainer.outputs["model"], evaluator.outputs["blessing"], serving_dir)
    pushed = {"ranker": pusher.outputs["pushed_model"]}
    components = [example_gen, statistics_gen, schema_gen, example_validator, anomalies_gate,
                  transform, trainer, model_resolver, evaluator, pusher]

    if config.retrieval.enabled:
        if not retrieval_serving_dir:
            raise ValueError("retrieval.enabled: create_pipeline needs retrieval_serving_dir")
        retrieval_trainer = tfx.components.Trainer(
            run_fn=modules.retrieval_run_fn,
            examples=transform.outputs["transformed_examples"],
            transform_graph=transform.outputs["transform_graph"],
            schema=schema_gen.outputs["schema"],
            custom_config={**user_config, "retrieval": config.to_dict()["retrieval"], **distribute},
        ).with_id("RetrievalTrainer")
        retrieval_evaluator = RetrievalEvaluator(
            examples=example_gen.outputs["examples"], model=retrieval_trainer.outputs["model"],
            config=json.dumps({"features": features.to_dict(),
                               "gate": config.to_dict()["retrieval_eval"]}, sort_keys=True))
        retrieval_pusher = _pusher(retrieval_trainer.outputs["model"],
                                   retrieval_evaluator.outputs["blessing"],
                                   retrieval_serving_dir).with_id("RetrievalPusher")
        components += [retrieval_trainer, retrieval_evaluator, retrieval_pusher]
        pushed["retriever"] = retrieval_pusher.outputs["pushed_model"]

    # TF Serving finds every model by name under one root: the pushers' directories are its children.
    components.append(DeploymentRecorder(
        serving_root=serving_root or os.path.dirname(os.path.normpath(serving_dir)), **pushed))

    return tfx.dsl.Pipeline(
        pipeline_name=pipeline_name, pipeline_root=pipeline_root,
        components=components,
        enable_cache=enable_cache, metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=beam_pipeline_args or [])
