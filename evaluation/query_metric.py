"""Plumbing shared by our per-query (per-user) TFMA custom metrics (``gauc.py``,
``query_statistics.py``): one computation per (model, output), and one query's arrays."""

from __future__ import annotations

from typing import Callable, Sequence

from tensorflow_model_analysis.metrics import metric_types, metric_util


def per_model_computations(names: Sequence[str], make_combiner: Callable[[list], object],
                           model_names: list[str] | None, output_names: list[str] | None,
                           example_weighted: bool) -> metric_types.MetricComputations:
    """A computation with keys ``names`` for every model (candidate, baseline) and output."""
    computations = []
    for model_name in model_names or [""]:
        for output_name in output_names or [""]:
            keys = [metric_types.MetricKey(name=n, model_name=model_name, output_name=output_name,
                                           example_weighted=example_weighted) for n in names]
            computations.append(metric_types.MetricComputation(
                keys=keys, preprocessors=None, combiner=make_combiner(keys)))
    return computations


def query_arrays(element: metric_types.StandardMetricInputs, key: metric_types.MetricKey,
                 eval_config, example_weighted: bool):
    """(labels, predictions, weight) of one query -- all its examples -- for ``key``'s model."""
    return next(metric_util.to_label_prediction_example_weight(
        element, eval_config=eval_config, model_name=key.model_name, output_name=key.output_name,
        example_weighted=example_weighted, flatten=False, require_single_example_weight=True))
