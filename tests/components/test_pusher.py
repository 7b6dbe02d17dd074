"""The TFX Pusher executor publishes through serving/push.py: versioned by the run, the version it
reused recorded when the same model is already served, nothing pushed without a blessing."""

import os

from recsys.components.pusher import IdempotentPusherExecutor
from recsys.serving.manifest import verify_manifest
from recsys.serving.push import run_version
from tests.serving.test_push import _dead_pid, _model


def _executor_inputs(tmp_path, model_dir, blessed=1):
    from tfx.types import standard_artifacts

    model = standard_artifacts.Model()
    model.uri = model_dir
    blessing = standard_artifacts.ModelBlessing()
    blessing.uri = str(tmp_path / "blessing")
    blessing.set_int_custom_property("blessed", blessed)
    return {"model": [model], "model_blessing": [blessing]}


def _push_with_executor(tmp_path, base, model_dir, run_id, blessed=1):
    from tfx.dsl.components.base import base_executor
    from tfx.proto import pusher_pb2
    from tfx.types import standard_artifacts
    from tfx.utils import proto_utils

    pushed = standard_artifacts.PushedModel()
    pushed.uri = str(tmp_path / f"pushed-{run_id}")
    destination = pusher_pb2.PushDestination(
        filesystem=pusher_pb2.PushDestination.Filesystem(base_directory=base))
    executor = IdempotentPusherExecutor(base_executor.BaseExecutor.Context(
        tmp_dir=str(tmp_path / "tmp"), pipeline_run_id=run_id))
    executor.Do(_executor_inputs(tmp_path, model_dir, blessed), {"pushed_model": [pushed]},
                {"push_destination": proto_utils.proto_to_json(destination)})
    return pushed


def test_executor_versions_by_run_and_records_the_version_it_reused(tmp_path):
    model_uri = str(tmp_path / "model")
    _model(os.path.join(model_uri, "Format-Serving"))
    base = str(tmp_path / "serving" / "ranker")
    os.makedirs(base)
    _model(os.path.join(base, f".partial-5-{_dead_pid()}"))  # a killed earlier push
    first = _push_with_executor(tmp_path, base, model_uri, "2026-11-23T19:00:05")
    version = run_version("2026-11-23T19:00:05")
    assert first.get_int_custom_property("pushed") == 1
    assert first.get_string_custom_property("pushed_version") == version
    assert first.get_string_custom_property("pushed_destination") == os.path.join(base, version)
    assert os.listdir(base) == [version]  # leftover removed, no staging dir
    assert verify_manifest(os.path.join(base, version))["run_id"] == "2026-11-23T19:00:05"
    again = _push_with_executor(tmp_path, base, model_uri, "2026-11-24T08:00:00")
    assert again.get_string_custom_property("pushed_version") == version  # no copy
    assert os.listdir(base) == [version]
    refused = _push_with_executor(tmp_path, str(tmp_path / "other"), model_uri, "x", blessed=0)
    assert refused.get_int_custom_property("pushed") == 0
    assert not os.path.exists(tmp_path / "other")
