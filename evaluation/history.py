"""The blessed models' headline figures over the runs of one pipeline, read from its MLMD store:
what ``recsys report`` plots under "Blessed models over time".

Every Evaluator execution that blessed its model, oldest first, one entry per evaluation (a run
served from the cache re-uses its evaluation, and is not counted twice).
"""

from __future__ import annotations

import dataclasses
import datetime

from recsys.evaluation.eval_result import Interval, load
from recsys.evaluation.metadata import executions_by_node, open_store, outputs

MAX_RUNS = 20  # each is one TFMA result to read; older ones are left out


@dataclasses.dataclass
class BlessedRun:
    label: str  # when the Evaluator ran (UTC) and its execution id
    uri: str  # the ModelEvaluation
    metrics: dict[str, float]  # overall slice
    intervals: dict[str, Interval]  # overall slice; empty when intervals were off


def blessed_history(metadata_path: str, node: str = "Evaluator", limit: int = MAX_RUNS
                    ) -> list[BlessedRun]:
    store = open_store(metadata_path)
    runs = []
    seen = set()
    for execution in executions_by_node(store).get(node, []):  # newest first
        artifacts = outputs(store, execution.id)
        blessing, evaluation = artifacts.get("ModelBlessing"), artifacts.get("ModelEvaluation")
        if blessing is None or evaluation is None or evaluation.uri in seen:
            continue
        seen.add(evaluation.uri)
        if not blessing.custom_properties["blessed"].int_value:
            continue
        try:
            result = load(evaluation.uri)
        except FileNotFoundError:  # an evaluation deleted from disk since: history goes on
            continue
        when = datetime.datetime.fromtimestamp(execution.create_time_since_epoch / 1000,
                                               datetime.timezone.utc)
        overall = result.slices[0] if result.overall else None
        runs.append(BlessedRun(f"{when:%Y-%m-%d %H:%M} #{execution.id}", evaluation.uri,
                               result.overall, overall.intervals if overall else {}))
        if len(runs) == limit:
            break
    return runs[::-1]
