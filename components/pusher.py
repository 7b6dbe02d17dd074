"""A Pusher that never pushes the same model twice, and versions pushes by pipeline run.

Stock TFX Pusher writes every blessed model to a new ``<base>/<unix-ts>/`` directory. A pipeline
re-run with nothing changed re-evaluates the (cached) model once -- the Resolver now finds a
blessed baseline it did not have before -- blesses it again, and the stock Pusher would publish an
identical copy as a new version, making TF Serving reload for nothing. This executor first looks
for a version under the destination whose files are byte-identical to the candidate; if one
exists, it records that version as the push and writes nothing new.

Versions are the pipeline run's start time (unix seconds) rather than the push time, so the ranker
and the retriever pushed by one run share a version number: a serving stack pins both models to
the newest version present under both (``serving/stack.py``) and always serves a pair trained on
the same data and Transform.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import time

from absl import logging
from tfx.components.pusher import executor as pusher_executor
from tfx.dsl.io import fileio
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import io_utils, proto_utils


def run_version(pipeline_run_id: str | None) -> str:
    """Unix seconds of the run's start (LocalDagRunner's run id is an ISO timestamp); now otherwise."""
    try:
        return str(int(datetime.datetime.fromisoformat(pipeline_run_id or "").timestamp()))
    except ValueError:
        return str(int(time.time()))


def tree_digest(path: str) -> str:
    """sha256 over every file's relative path and bytes under ``path``."""
    h = hashlib.sha256()
    for dirpath, _, files in sorted(fileio.walk(path)):
        for name in sorted(files):
            full = os.path.join(dirpath, name)
            h.update(os.path.relpath(full, path).encode())
            with fileio.open(full, "rb") as fh:
                h.update(fh.read())
    return h.hexdigest()


def find_identical_version(model_path: str, base_directory: str) -> str | None:
    """The version directory under ``base_directory`` holding exactly ``model_path``, if any."""
    if not fileio.exists(base_directory):
        return None
    digest = tree_digest(model_path)
    for version in sorted(fileio.listdir(base_directory), reverse=True):  # newest first
        candidate = os.path.join(base_directory, version)
        if fileio.isdir(candidate) and tree_digest(candidate) == digest:
            return version
    return None


class IdempotentPusherExecutor(pusher_executor.Executor):
    """The stock filesystem push, unless the very same model is already a served version."""

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
            # The stock executor names the version by time.time() at push; this is its filesystem
            # push with the run's version instead. saved_model.pb goes last: TF Serving takes its
            # presence as "the version is complete".
            version = run_version(self._context.pipeline_run_id if self._context else None)
            serving_path = os.path.join(base, version)
            if not fileio.exists(serving_path):
                io_utils.copy_dir(model_path, serving_path, deny_regex_patterns=[r"saved_model\.pb"])
                io_utils.copy_file(os.path.join(model_path, "saved_model.pb"),
                                   os.path.join(serving_path, "saved_model.pb"))
            io_utils.copy_dir(model_path, model_push.uri)
            logging.info("model pushed to %s", serving_path)
        self._MarkPushed(model_push, pushed_destination=os.path.join(base, version),
                         pushed_version=version)
