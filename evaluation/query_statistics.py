"""Per-user query statistics (TFMA's ``QueryStatistics`` names), correct with a baseline model.

TFMA 0.47's ``QueryStatistics`` has two bugs once the Evaluator compares against a baseline (the
Resolver supplies one on every run after the first, and the models are then named ``candidate``
and ``baseline``):

* it takes a ``model_name`` that TFMA never fills in, so it looks up the model ``""`` and fails;
* it counts a query's documents as ``len(element.prediction)``, which is the number of *models*
  (the prediction is a ``{model: array}`` dict) rather than the number of examples.

This metric produces the same four values (``total_queries``, ``total_documents``,
``min_documents``, ``max_documents``) per model from the model's own prediction array.
Use it in a ``MetricsSpec`` whose ``query_key`` is the user key.
"""

from __future__ import annotations

from typing import Iterable

import apache_beam as beam
import numpy as np
from tensorflow_model_analysis.metrics import metric_types
from tensorflow_model_analysis.metrics.query_statistics import (MAX_DOCUMENTS_NAME, MIN_DOCUMENTS_NAME,
                                                                TOTAL_DOCUMENTS_NAME, TOTAL_QUERIES_NAME)

from recsys.evaluation.query_metric import per_model_computations, query_arrays

NAMES = (TOTAL_QUERIES_NAME, TOTAL_DOCUMENTS_NAME, MIN_DOCUMENTS_NAME, MAX_DOCUMENTS_NAME)


class UserQueryStatistics(metric_types.Metric):
    """How many users (queries) and how many examples per user. Requires ``query_key``."""

    def __init__(self):
        super().__init__(_computations)


metric_types.register_metric(UserQueryStatistics)


def _computations(eval_config=None, model_names: list[str] | None = None,
                  output_names: list[str] | None = None, example_weighted: bool = False,
                  query_key: str = "") -> metric_types.MetricComputations:
    if not query_key:
        raise ValueError("UserQueryStatistics: the MetricsSpec has no query_key; expected the user key")
    return per_model_computations(NAMES, lambda keys: _Combiner(keys, eval_config, example_weighted),
                                  model_names, output_names, example_weighted)


class _Accumulator:
    __slots__ = ["queries", "documents", "min_documents", "max_documents"]

    def __init__(self):
        self.queries = 0.0
        self.documents = 0.0
        self.min_documents = float("inf")
        self.max_documents = 0.0


class _Combiner(beam.CombineFn):
    def __init__(self, keys: list, eval_config, example_weighted: bool):
        self._keys = keys
        self._eval_config = eval_config
        self._example_weighted = example_weighted

    def create_accumulator(self) -> _Accumulator:
        return _Accumulator()

    def add_input(self, acc: _Accumulator, element: metric_types.StandardMetricInputs) -> _Accumulator:
        _, predictions, weight = query_arrays(element, self._keys[0], self._eval_config,
                                              self._example_weighted)
        weight = float(weight)
        documents = np.asarray(predictions).size * weight
        acc.queries += weight
        acc.documents += documents
        acc.min_documents = min(acc.min_documents, documents)
        acc.max_documents = max(acc.max_documents, documents)
        return acc

    def merge_accumulators(self, accumulators: Iterable[_Accumulator]) -> _Accumulator:
        accumulators = iter(accumulators)
        result = next(accumulators)
        for a in accumulators:
            result.queries += a.queries
            result.documents += a.documents
            result.min_documents = min(result.min_documents, a.min_documents)
            result.max_documents = max(result.max_documents, a.max_documents)
        return result

    def extract_output(self, acc: _Accumulator) -> dict:
        values = (acc.queries, acc.documents,
                  acc.min_documents if acc.queries else float("nan"), acc.max_documents)
        return dict(zip(self._keys, values))
