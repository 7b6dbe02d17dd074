"""The history view: blessed models' headline figures over runs, read from a real MLMD store
(SQLite, built here the way TFX records Evaluator executions), one entry per evaluation."""

import ml_metadata as mlmd
from ml_metadata.proto import metadata_store_pb2

from recsys.evaluation import history, report
from recsys.evaluation.eval_result import load


def _store(path: str, runs: list[tuple[str, bool]]) -> None:
    """One Evaluator execution per (evaluation uri, blessed), in the node context TFX uses."""
    cfg = metadata_store_pb2.ConnectionConfig()
    cfg.sqlite.filename_uri = path
    cfg.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    store = mlmd.MetadataStore(cfg)
    types = {name: store.put_artifact_type(metadata_store_pb2.ArtifactType(name=name))
             for name in ("ModelEvaluation", "ModelBlessing")}
    execution_type = store.put_execution_type(metadata_store_pb2.ExecutionType(name="Evaluator"))
    node_type = store.put_context_type(metadata_store_pb2.ContextType(name="node"))
    [context] = store.get_contexts_by_id(store.put_contexts([
        metadata_store_pb2.Context(type_id=node_type, name="recsys.Evaluator")]))
    for uri, blessed in runs:
        evaluation = metadata_store_pb2.Artifact(type_id=types["ModelEvaluation"], uri=uri)
        blessing = metadata_store_pb2.Artifact(type_id=types["ModelBlessing"], uri=uri + "-blessing")
        blessing.custom_properties["blessed"].int_value = int(blessed)
        execution = metadata_store_pb2.Execution(
            type_id=execution_type, last_known_state=metadata_store_pb2.Execution.COMPLETE)
        out = metadata_store_pb2.Event(type=metadata_store_pb2.Event.OUTPUT)
        store.put_execution(execution, [(evaluation, out), (blessing, out)], [context])


def test_history_lists_each_blessed_evaluation_once_oldest_first(tmp_path, tfma_tiny_intervals):
    path = str(tmp_path / "metadata.sqlite")
    missing = str(tmp_path / "deleted-evaluation")
    # blessed; not blessed; the first one again (a cached re-run); blessed but deleted since.
    _store(path, [(tfma_tiny_intervals, True), (str(tmp_path), False), (tfma_tiny_intervals, True),
                  (missing, True)])
    runs = history.blessed_history(path)
    assert [r.uri for r in runs] == [tfma_tiny_intervals]
    expected = load(tfma_tiny_intervals)
    assert runs[0].metrics["auc"] == expected.overall["auc"]
    assert runs[0].intervals["auc"] == expected.slices[0].intervals["auc"]
    # Drawn from two runs on, as a plot and a table with the exact values.
    text = report.render_html(expected, history=runs * 2)
    assert "Blessed models over time" in text and 'id="history"' in text
    assert f'data-value="{expected.overall["auc"]!r}"' in text
    assert "Blessed models over time" not in report.render_html(expected, history=runs)
