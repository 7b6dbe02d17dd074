"""Reading a run's MLMD store: which node ran when, and what each execution wrote.

Node ids come from MLMD's per-node contexts ("<pipeline>.<node id>"), not from execution types:
the ranker's and the retriever's Trainers are two nodes of one type. A cached execution records
output events for the artifacts it reused, so "outputs of the newest execution" is right for
cache hits too.
"""

from __future__ import annotations

import os


def open_store(metadata_path: str):
    import ml_metadata as mlmd
    from ml_metadata.proto import metadata_store_pb2

    if not os.path.exists(metadata_path):
        raise FileNotFoundError(f"no MLMD store at {metadata_path}; run `recsys run` first")
    cfg = metadata_store_pb2.ConnectionConfig()
    cfg.sqlite.filename_uri = metadata_path
    return mlmd.MetadataStore(cfg)


def executions_by_node(store) -> dict[str, list]:
    """Node id -> its executions, newest first."""
    out = {}
    for ctx in store.get_contexts_by_type("node"):
        runs = store.get_executions_by_context(ctx.id)
        out[ctx.name.rsplit(".", 1)[-1]] = sorted(runs, key=lambda e: -e.id)
    return out


def outputs(store, execution_id: int) -> dict:
    """Output artifacts of one execution, by artifact type name."""
    from ml_metadata.proto import metadata_store_pb2

    ids = [e.artifact_id for e in store.get_events_by_execution_ids([execution_id])
           if e.type == metadata_store_pb2.Event.OUTPUT]
    arts = store.get_artifacts_by_id(ids)
    types = {t.id: t.name for t in store.get_artifact_types_by_id(list({a.type_id for a in arts}))}
    return {types[a.type_id]: a for a in arts}


def latest_output_uri(metadata_path: str, node: str, artifact_type: str) -> str:
    """The URI of ``node``'s newest ``artifact_type`` output in the store at ``metadata_path``
    (what a benchmark or a tool reads back after a run, instead of globbing for the newest file)."""
    artifact = latest_output(open_store(metadata_path), node, artifact_type)
    if artifact is None:
        raise FileNotFoundError(f"no {artifact_type} output of {node} in {metadata_path}")
    return artifact.uri


def overrides(values: list[str], section: str) -> list[str]:
    """``--set`` values of a benchmark as the CLI's ``section.key=value``: a bare ``key=value`` is a
    key of ``section`` (the script's own config section)."""
    return [v if "." in v.partition("=")[0] else f"{section}.{v}" for v in values]


def latest_output(store, node: str, artifact_type: str):
    """The ``artifact_type`` output of ``node``'s newest execution that wrote one, or None."""
    for execution in executions_by_node(store).get(node, []):
        artifact = outputs(store, execution.id).get(artifact_type)
        if artifact is not None:
            return artifact
    return None
