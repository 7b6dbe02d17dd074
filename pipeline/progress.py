"""One terminal line per pipeline component as it starts and as it ends: its state, its seconds
and its key figure (read back from MLMD), through ``recsys.progress``.

TFX's local runner logs ``Component <id> is running.`` / ``... is finished.`` (absl, INFO); a
logging handler turns those into lines while everything else goes to the run's log file.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time

from recsys import progress

_RUNNING = re.compile(r"^Component (\S+) is running\.$")
_FINISHED = re.compile(r"^Component (\S+) is finished\.$")


def _json(path: str) -> dict | None:
    try:
        with open(path) as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


def key_figure(node: str, artifacts: dict) -> str:
    """The one figure worth a glance for ``node``'s outputs (artifact type name -> artifact)."""
    blessing = artifacts.get("ModelBlessing")
    if "ModelRun" in artifacts:  # Trainers: the training result they write beside the model run
        result = _json(os.path.join(artifacts["ModelRun"].uri, "training_result.json")) or {}
        figures = {f"eval {k}": v for k, v in result.get("eval", {}).items() if k in ("auc", "rmse")}
        if "catalog_size" in result:
            figures["catalog"] = result["catalog_size"]
        if "train_examples_per_second" in result:
            figures["examples/s"] = round(result["train_examples_per_second"])
        return ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v:,}"
                         for k, v in figures.items())
    if blessing is not None:
        blessed = blessing.custom_properties["blessed"].int_value == 1
        evaluation = artifacts.get("ModelEvaluation")
        text = "blessed" if blessed else "NOT blessed"
        metrics = _json(os.path.join(evaluation.uri, "retrieval_metrics.json")) if evaluation else None
        if metrics:
            return text + f", recall@100 {metrics['overall']['recall@100']:.4f}"
        if evaluation is not None:  # TFMA's result: the gated metric, overall
            from recsys.evaluation.eval_result import load

            overall = load(evaluation.uri).overall
            text += "".join(f", {k} {overall[k]:.4f}" for k in ("auc", "root_mean_squared_error")
                            if k in overall)
        return text
    pushed = artifacts.get("PushedModel")
    if pushed is not None:
        props = pushed.custom_properties
        if props["pushed"].int_value != 1:
            return "not pushed"
        return f"version {props['pushed_version'].string_value}" if "pushed_version" in props else "pushed"
    return ""


class ComponentLines(logging.Handler):
    """``[ 3/14] Transform ... started`` then ``[ 3/14] Transform COMPLETE 41.2 s  <figure>``."""

    def __init__(self, metadata_path: str, total: int):
        super().__init__(logging.INFO)
        self._metadata_path, self._total = metadata_path, total
        self._started: dict[str, float] = {}

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001  (a malformed library log record is not ours to raise)
            return
        if m := _RUNNING.match(message):
            self._started[m.group(1)] = time.perf_counter()
            progress.line(f"[{len(self._started):2d}/{self._total}] {m.group(1)} ...")
        elif m := _FINISHED.match(message):
            node = m.group(1)
            seconds = time.perf_counter() - self._started.get(node, time.perf_counter())
            state, figure = self._outcome(node)
            progress.line(f"[{len(self._started):2d}/{self._total}] {node} {state} "
                          f"{seconds:.1f} s" + (f"  {figure}" if figure else ""))

    def _outcome(self, node: str) -> tuple[str, str]:
        from ml_metadata.proto import metadata_store_pb2

        from recsys.evaluation.metadata import executions_by_node, open_store, outputs

        try:
            store = open_store(self._metadata_path)
            runs = executions_by_node(store).get(node) or []
            if not runs:
                return "done", ""
            names = {v: k for k, v in metadata_store_pb2.Execution.State.items()}
            return names[runs[0].last_known_state], key_figure(node, outputs(store, runs[0].id))
        except Exception as e:  # noqa: BLE001  (a progress line never fails the run)
            return "done", f"({type(e).__name__} reading MLMD)"
