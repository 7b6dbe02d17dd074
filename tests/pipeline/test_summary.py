"""``recsys summary`` reports what is really there: a killed run's executions as interrupted,
not RUNNING forever, and only complete versions and deployments as served."""

import os
import subprocess
import sys

import pytest

from recsys.evaluation.run_summary import component_states
from recsys.pipeline import run_lock
from recsys.pipeline.local_runner import RunPaths, runner_started, summarize


def _paths(tmp_path):
    root = str(tmp_path / "serving")
    return RunPaths(pipeline_root=str(tmp_path / "pipeline"),
                    metadata_path=str(tmp_path / "metadata" / "metadata.db"),
                    serving_dir=os.path.join(root, "ranker"),
                    retrieval_serving_dir=os.path.join(root, "retriever"), serving_root=root)


def _store_with(paths, states):
    """An MLMD store as LocalDagRunner leaves it: one node context and execution per node."""
    import ml_metadata as mlmd
    from ml_metadata.proto import metadata_store_pb2 as pb

    os.makedirs(os.path.dirname(paths.metadata_path), exist_ok=True)
    cfg = pb.ConnectionConfig()
    cfg.sqlite.filename_uri = paths.metadata_path
    store = mlmd.MetadataStore(cfg)
    ctx_type = store.put_context_type(pb.ContextType(name="node"))
    ex_type = store.put_execution_type(pb.ExecutionType(name="Component"))
    for node, state in states.items():
        [ctx] = store.put_contexts([pb.Context(type_id=ctx_type, name=f"recsys.{node}")])
        [ex] = store.put_executions([pb.Execution(type_id=ex_type, last_known_state=state)])
        store.put_attributions_and_associations([], [pb.Association(context_id=ctx, execution_id=ex)])
    return store


def test_an_unfinished_execution_without_a_live_runner_was_interrupted(tmp_path):
    from ml_metadata.proto import metadata_store_pb2 as pb

    paths = _paths(tmp_path)
    _store_with(paths, {"Transform": pb.Execution.COMPLETE, "Trainer": pb.Execution.RUNNING,
                        "Evaluator": pb.Execution.CACHED})
    # What a SIGKILLed `recsys run` leaves: its lock file, naming a process that is gone.
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    os.makedirs(paths.pipeline_root)
    with open(run_lock.lock_path(paths.pipeline_root), "w") as fh:
        fh.write(f"{child.pid} 1.0\n")
    assert runner_started(paths) is None
    assert summarize(paths)["components"] == {
        "Transform": "COMPLETE", "Trainer": "FAILED (interrupted)", "Evaluator": "CACHED"}
    with run_lock.hold(paths.pipeline_root) as started:  # a live run: its executions really run
        assert runner_started(paths) == pytest.approx(started, abs=1e-3)
        assert summarize(paths)["components"]["Trainer"] == "FAILED (interrupted)"  # older
    assert runner_started(paths) is None


def test_states_against_the_runners_start():
    from ml_metadata.proto import metadata_store_pb2 as pb

    def ex(state, created_ms):
        return pb.Execution(last_known_state=state, create_time_since_epoch=created_ms)

    executions = {"Trainer": [ex(pb.Execution.RUNNING, 5000), ex(pb.Execution.COMPLETE, 1000)],
                  "Pusher": [ex(pb.Execution.NEW, 1000)], "Empty": []}
    assert component_states(executions, runner_started_at=4.0) == {
        "Trainer": "RUNNING", "Pusher": "FAILED (interrupted)"}
    assert component_states(executions, runner_started_at=None)["Trainer"] == "FAILED (interrupted)"


def test_only_complete_versions_and_deployments_are_reported_served(tmp_path):
    from ml_metadata.proto import metadata_store_pb2 as pb

    from recsys.serving.push import push_version
    from recsys.serving.deployment import record_deployment

    paths = _paths(tmp_path)
    _store_with(paths, {"Pusher": pb.Execution.COMPLETE})
    model = tmp_path / "model"
    model.mkdir()
    (model / "saved_model.pb").write_bytes(b"graph")
    push_version(str(model), paths.serving_dir, "100", run_id="r")
    os.makedirs(os.path.join(paths.serving_dir, ".partial-200-1"))  # a killed push
    os.makedirs(os.path.join(paths.serving_dir, "300"))  # an old-style half push
    record_deployment(paths.serving_root, "r", {"ranker": (100, paths.serving_dir)})
    report = summarize(paths)
    assert report["pushed_versions"] == ["100"]
    assert report["deployment"] == {"id": 100, "run_id": "r", "models": {"ranker": "100"}}
