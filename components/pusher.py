"""The Pusher executor: publishes a version whole or not at all, never twice, versioned by run.

It keeps the stock TFX Pusher's inputs, blessing check and ``PushedModel`` output; for a filesystem
destination it publishes through ``serving/push.py`` (why and how: its docstring) -- an atomic
staging-directory-and-rename push with a manifest, the reuse of a byte-identical served version,
the pipeline run's start time as the version number. Other destinations and unblessed models
go to the stock executor.
"""

from __future__ import annotations

import os

from absl import logging
from tfx.components.pusher import executor as pusher_executor
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import io_utils, proto_utils

from recsys.serving.push import find_identical_version, push_version, run_version


class IdempotentPusherExecutor(pusher_executor.Executor):
    """An atomic filesystem push, unless the very same model is already a served version."""

    def Do(self, input_dict, output_dict, exec_properties) -> None:
        destination = pusher_pb2.PushDestination()
        proto_utils.json_to_proto(exec_properties[standard_component_specs.PUSH_DESTINATION_KEY],
                                  destination)
        if not (destination.HasField("filesystem") and self.CheckBlessing(input_dict)):
            return super().Do(input_dict, output_dict, exec_properties)
        model_path = self.GetModelPath(input_dict)
        base = destination.filesystem.base_directory
        model_push = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.PUSHED_MODEL_KEY])
        version = find_identical_version(model_path, base)
        if version is not None:
            logging.info("model already served as version %s; not pushing a copy", version)
        else:
            run_id = self._context.pipeline_run_id if self._context else None
            version = run_version(run_id)
            serving_path = push_version(model_path, base, version, run_id=run_id)
            io_utils.copy_dir(model_path, model_push.uri)
            logging.info("model pushed to %s", serving_path)
        self._MarkPushed(model_push, pushed_destination=os.path.join(base, version),
                         pushed_version=version)
