"""DeploymentRecorder: after both pushers, records which model versions this run deploys together.

Inputs are the Pusher's and the RetrievalPusher's ``PushedModel`` artifacts (the retriever's is
optional: ``retrieval.enabled=false``). When every given model is pushed (the artifact's ``pushed``
custom property is 1, set by TFX's ``Executor._MarkPushed`` together with ``pushed_version`` and
``pushed_destination``) it writes ``<serving_root>/deployments/<run version>.json``
(``serving/deployment.py``). A cached pusher hands over the artifact of the run that pushed, so a
ranker-only change records the new ranker beside the retriever version it reused. When a model
was not pushed (not blessed), nothing is recorded and the previous deployment stays current.

A custom executor rather than a function component: the record is named after the pipeline run,
which only the executor context knows. The runner compiles this node with caching off
(``pipeline.pipeline.NEVER_CACHED``): a run that goes back to an earlier combination of pushed
models has the very inputs of that earlier run, and a cached recorder would leave a newer record
current.
"""

from __future__ import annotations

import os

from absl import logging
from tfx import types
from tfx.dsl.components.base import base_component, base_executor, executor_spec
from tfx.types import artifact_utils, standard_artifacts
from tfx.types.component_spec import ChannelParameter, ExecutionParameter

from recsys.serving.push import run_version
from recsys.serving.deployment import record_deployment

# Custom property names of TFX's PushedModel (tfx/components/pusher/executor.py, _MarkPushed).
PUSHED, PUSHED_VERSION, PUSHED_DESTINATION = "pushed", "pushed_version", "pushed_destination"


def pushed_model(artifact) -> tuple[str, int, str] | None:
    """(TF Serving model name, version, base path) of a PushedModel artifact; None if not pushed."""
    if not (artifact.has_custom_property(PUSHED)
            and artifact.get_int_custom_property(PUSHED) == 1):
        return None
    version = artifact.get_string_custom_property(PUSHED_VERSION)
    destination = os.path.normpath(artifact.get_string_custom_property(PUSHED_DESTINATION))
    if os.path.basename(destination) != version:
        raise ValueError(f"pushed_destination {destination} does not end in pushed_version {version}")
    base = os.path.dirname(destination)
    return os.path.basename(base), int(version), base


def record_pushes(serving_root: str, run_id: str | None, pushes: dict) -> dict | None:
    """Writes the deployment record when every artifact of ``pushes`` (role -> PushedModel or
    None for a role this pipeline does not have) was pushed; returns the record, or None."""
    models = {}
    for role, artifact in pushes.items():
        if artifact is None:
            continue
        pushed = pushed_model(artifact)
        if pushed is None:
            logging.warning("DeploymentRecorder: the %s was not pushed by this run (not blessed); "
                            "no new deployment recorded, the previous one stays current", role)
            return None
        name, version, base = pushed
        models[name] = (version, base)
    record = record_deployment(serving_root, run_id, models, record_id=run_version(run_id))
    logging.info("DeploymentRecorder: deployment %s: %s", run_version(run_id),
                 ", ".join(f"{n} {e['version']}" for n, e in record["models"].items()))
    return record


class Executor(base_executor.BaseExecutor):

    def Do(self, input_dict, output_dict, exec_properties) -> None:
        pushes = {role: artifact_utils.get_single_instance(input_dict[role])
                  if input_dict.get(role) else None for role in ("ranker", "retriever")}
        run_id = self._context.pipeline_run_id if self._context else None
        record_pushes(exec_properties["serving_root"], run_id, pushes)


class DeploymentRecorderSpec(types.ComponentSpec):
    PARAMETERS = {"serving_root": ExecutionParameter(type=str)}
    INPUTS = {"ranker": ChannelParameter(type=standard_artifacts.PushedModel),
              "retriever": ChannelParameter(type=standard_artifacts.PushedModel, optional=True)}
    OUTPUTS = {}


class DeploymentRecorder(base_component.BaseComponent):
    """Records ``ranker`` (and ``retriever``) pushed versions as one deployment under
    ``serving_root``."""

    SPEC_CLASS = DeploymentRecorderSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

    def __init__(self, ranker: types.BaseChannel, serving_root: str,
                 retriever: types.BaseChannel | None = None):
        super().__init__(spec=DeploymentRecorderSpec(ranker=ranker, retriever=retriever,
                                                     serving_root=serving_root))
