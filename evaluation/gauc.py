"""GAUC: impression-weighted per-user AUC, as a TFMA custom metric (TFMA 0.47 has none).

Zhou et al., "Deep Interest Network for Click-Through Rate Prediction" (KDD 2018), eq. 6::

    GAUC = sum_u n_u * AUC_u / sum_u n_u

where ``AUC_u`` is the AUC of user ``u``'s own examples and ``n_u`` is the number of ``u``'s
impressions. A global AUC also rewards ranking a heavy user's items above a light user's; a
recommender only ever ranks items *for one user*, and GAUC measures exactly that. Users whose
examples are all positive or all negative have no AUC and are left out (of both sums).

Use it in a ``MetricsSpec`` with ``query_key`` set to the user key: TFMA then hands the combiner
one element per user, holding all of that user's labels and predictions::

    tfma.MetricsSpec(query_key="user_id", metrics=[
        tfma.MetricConfig(class_name="GAUC", module="recsys.evaluation.gauc")])

Outputs ``gauc`` and ``gauc_users`` (how many users had both classes; a GAUC over a handful of
users is noise, and the report shows the two together).
"""

from __future__ import annotations

from typing import Iterable

import apache_beam as beam
import numpy as np
from tensorflow_model_analysis.metrics import metric_types

from recsys.evaluation.query_metric import per_model_computations, query_arrays
from recsys.evaluation import metrics

GAUC_NAME = "gauc"
GAUC_USERS_NAME = "gauc_users"


def auc(labels: np.ndarray, predictions: np.ndarray) -> float | None:
    """AUC of one user's examples (``recsys.evaluation.metrics.auc``: rank-based, ties count one half);
    ``None`` when the user has only one class."""
    labels = np.asarray(labels, dtype=np.float64).reshape(-1) > 0
    if labels.all() or not labels.any():
        return None
    return metrics.auc(labels, np.asarray(predictions, dtype=np.float64).reshape(-1))


class GAUC(metric_types.Metric):
    """Impression-weighted per-user AUC (DIN paper). Requires ``query_key`` in the MetricsSpec."""

    def __init__(self, name: str = GAUC_NAME, users_name: str = GAUC_USERS_NAME):
        super().__init__(_gauc, name=name, users_name=users_name)


metric_types.register_metric(GAUC)


def _gauc(name: str = GAUC_NAME, users_name: str = GAUC_USERS_NAME, eval_config=None,
          model_names: list[str] | None = None, output_names: list[str] | None = None,
          example_weighted: bool = False, query_key: str = "") -> metric_types.MetricComputations:
    if not query_key:
        raise ValueError("GAUC: the MetricsSpec has no query_key; expected the user key "
                         "(per-user AUC needs the examples grouped by user)")
    return per_model_computations(
        (name, users_name), lambda keys: _GAUCCombiner(keys[0], keys[1], eval_config, example_weighted),
        model_names, output_names, example_weighted)


class _Accumulator:
    __slots__ = ["weighted_auc", "impressions", "users"]

    def __init__(self):
        self.weighted_auc = 0.0  # sum_u n_u * AUC_u
        self.impressions = 0.0  # sum_u n_u
        self.users = 0


class _GAUCCombiner(beam.CombineFn):
    """One ``add_input`` per query (user): TFMA groups the examples by ``query_key`` first."""

    def __init__(self, key, users_key, eval_config, example_weighted: bool):
        self._key = key
        self._users_key = users_key
        self._eval_config = eval_config
        self._example_weighted = example_weighted

    def create_accumulator(self) -> _Accumulator:
        return _Accumulator()

    def add_input(self, acc: _Accumulator, element: metric_types.StandardMetricInputs) -> _Accumulator:
        labels, predictions, weight = query_arrays(element, self._key, self._eval_config,
                                                   self._example_weighted)
        user_auc = auc(labels, predictions)
        if user_auc is not None:
            n = np.asarray(labels).size * float(weight)  # impressions (times the query's weight)
            acc.weighted_auc += n * user_auc
            acc.impressions += n
            acc.users += 1
        return acc

    def merge_accumulators(self, accumulators: Iterable[_Accumulator]) -> _Accumulator:
        accumulators = iter(accumulators)
        result = next(accumulators)
        for a in accumulators:
            result.weighted_auc += a.weighted_auc
            result.impressions += a.impressions
            result.users += a.users
        return result

    def extract_output(self, acc: _Accumulator) -> dict:
        value = acc.weighted_auc / acc.impressions if acc.impressions else float("nan")
        return {self._key: value, self._users_key: acc.users}
