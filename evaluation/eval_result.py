"""One Evaluator output, read back into plain typed values: what ``recsys report`` and the notebook show.

TFMA stores metrics as nested ``{model: {output: {sub_key: {name: {"doubleValue": x}}}}}`` dicts
per slice; this module flattens them once (``ndcg`` at ``topK:5`` becomes ``ndcg@5``), so the
terminal table, the HTML report and its tests all read the same numbers.

Where the evaluation comes from: ``--eval-dir`` (an Evaluator ``ModelEvaluation`` artifact
directory, or any ``tfma.run_model_analysis`` output), else the newest ``ModelEvaluation`` in the
run's MLMD store (``latest_evaluation_uri``).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os

from recsys.evaluation.retrieval_metrics import METRICS_FILE as RETRIEVAL_FILE

OVERALL = "Overall"
Interval = tuple[float, float]  # TFMA's 95% confidence interval of a metric: (lower, upper)


@dataclasses.dataclass
class SliceMetrics:
    slice: str  # "Overall", "user_gender=F", "user_gender=F & item_category=c02"
    metrics: dict[str, float]  # candidate's metrics, flattened names; never NaN
    diffs: dict[str, float]  # candidate minus baseline, same names (empty without a baseline)
    # Metrics this slice has no value for, and why ("n/a" in the report, null in JSON): TFMA's NaN
    # (e.g. AUC of a one-class slice) and per-user metrics TFMA did not compute within the slice.
    undefined: dict[str, str] = dataclasses.field(default_factory=dict)
    # TFMA's 95% intervals (``eval.confidence_intervals``), same names; empty when they are off.
    intervals: dict[str, Interval] = dataclasses.field(default_factory=dict)  # of metrics
    diff_intervals: dict[str, Interval] = dataclasses.field(default_factory=dict)  # of diffs
    # Why a resampling pass left this slice without intervals, TFMA's own text by pass
    # (``__ERROR__``: the example-level metrics, ``__ERROR__per_user``: the per-user ones,
    # ``interval_error.py``), e.g. "CI not computed because only 18 samples were non-empty.
    # Expected 20.": a metric without an interval then reads as not computed, not as certain.
    interval_errors: dict[str, str] = dataclasses.field(default_factory=dict)

    @property
    def example_count(self) -> float:
        return self.metrics.get("example_count", 0.0)


@dataclasses.dataclass
class CalibrationBucket:
    lower: float
    upper: float
    examples: float
    mean_prediction: float
    mean_label: float


@dataclasses.dataclass
class Verdict:
    passed: bool
    failures: list[str]  # one line per failed threshold: slice, metric, value, threshold


@dataclasses.dataclass
class Evaluation:
    uri: str
    candidate: str  # TFMA model name ("" when evaluated without a baseline)
    slices: list[SliceMetrics]  # "Overall", single-feature slices, crosses; by name within each
    baseline: dict[str, float] | None  # the baseline model's overall metrics, if there was one
    calibration: list[CalibrationBucket]  # overall slice, non-empty buckets
    verdict: Verdict | None  # None when the evaluation had no thresholds to validate
    baseline_intervals: dict[str, Interval] = dataclasses.field(default_factory=dict)

    @property
    def overall(self) -> dict[str, float]:
        return self.slices[0].metrics if self.slices and self.slices[0].slice == OVERALL else {}


def slice_name(slice_key) -> str:
    if not slice_key:
        return OVERALL
    return " & ".join(f"{_text(k)}={_text(v)}" for k, v in slice_key)


def _text(v) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def scalar(value) -> float | None:
    """A TFMA metric value (JSON dict) -> float; None for plots/matrices that are no number."""
    if isinstance(value, dict):
        for key in ("doubleValue", "value"):
            if isinstance(value.get(key), (int, float)):
                return float(value[key])
            if isinstance(value.get(key), str):  # JSON keeps NaN/Infinity as strings
                try:
                    return float(value[key])
                except ValueError:
                    return None
        if "boundedValue" in value:
            return scalar(value["boundedValue"])
    return None


def interval(value) -> Interval | None:
    """A TFMA metric value (JSON dict) -> its 95% interval, when TFMA computed one: TFMA writes
    ``{"boundedValue": {"lowerBound", "upperBound", "value"}}`` then (``load_eval_result``)."""
    bounded = value.get("boundedValue") if isinstance(value, dict) else None
    if not isinstance(bounded, dict):
        return None
    try:
        lo, hi = float(bounded["lowerBound"]), float(bounded["upperBound"])
    except (KeyError, TypeError, ValueError):
        return None
    return (lo, hi) if math.isfinite(lo) and math.isfinite(hi) else None


ERROR_NAME = "__ERROR__"  # tensorflow_model_analysis.constants.ERROR_METRIC_NAME (not imported: TF)


def error_text(value) -> str:
    """TFMA's ``__ERROR__`` metric value (JSON dict, the message as base64 ``bytesValue``) -> text."""
    import base64

    raw = value.get("bytesValue", "") if isinstance(value, dict) else value
    try:
        return base64.b64decode(raw).decode()
    except (ValueError, TypeError):
        return str(raw)


# Why TFMA returns NaN for a metric on a slice, by base metric name; anything else gets UNDEFINED.
NAN_REASONS = {
    "auc": "one label class only in this slice",
    "auc_precision_recall": "one label class only in this slice",
    "calibration": "no positive label in this slice (mean label 0)",
    "gauc": "no user in this slice has both a positive and a negative example",
    "ndcg": "no user in this slice has a positive example",
    "min_label_position": "no user in this slice has a positive example",
    "min_documents": "no user in this slice",
}
UNDEFINED = "undefined on this slice (TFMA returned NaN)"


def _base(name: str) -> str:
    """``ndcg@5`` -> ``ndcg``, ``auc[x]`` -> ``auc``."""
    return name.split("@", 1)[0].split("[", 1)[0]


def flatten(by_sub_key: dict, name: str = OVERALL) -> SliceMetrics:
    """``{sub_key: {name: value}}`` of one model/output of slice ``name`` -> its SliceMetrics,
    flat names; a NaN value goes to ``undefined`` with its reason, never into the numbers. Counts
    (``COUNT_METRICS``) keep no interval: a resample's count is no uncertainty."""
    from recsys.evaluation.eval_config import COUNT_METRICS

    out = SliceMetrics(name, {}, {}, {})
    for sub_key, values in by_sub_key.items():
        suffix = "@" + sub_key.split(":", 1)[1] if sub_key.startswith("topK:") else (
            f"[{sub_key}]" if sub_key else "")
        for metric, value in values.items():
            if metric.startswith(ERROR_NAME):
                out.interval_errors[metric] = error_text(value)
                continue
            x = scalar(value)
            if x is None:
                continue
            bounds = None if _base(metric.removesuffix("_diff")) in COUNT_METRICS else interval(value)
            if metric.endswith("_diff"):
                if not math.isnan(x):  # a diff against an undefined value is undefined too
                    out.diffs[metric[:-len("_diff")] + suffix] = x
                    if bounds:
                        out.diff_intervals[metric[:-len("_diff")] + suffix] = bounds
            elif math.isnan(x):
                out.undefined[metric + suffix] = NAN_REASONS.get(metric, UNDEFINED)
            else:
                out.metrics[metric + suffix] = x
                if bounds:
                    out.intervals[metric + suffix] = bounds
    return out


PER_USER_OFF_SLICE = ("per-user metric not computed within this slice: TFMA groups each user's "
                      "examples before slicing, so here it would cover the users' whole lists "
                      "(total_documents > example_count), not the slice's examples")


def withhold_per_user_off_slice(s: SliceMetrics) -> SliceMetrics:
    """Moves the per-user metrics (GAUC, NDCG, MinLabelPosition, the query statistics) of ``s`` to
    ``undefined`` unless TFMA computed them within the slice.

    TFMA groups a query's (user's) examples *before* slicing, and the group carries the union of
    its examples' slice keys (``_GroupByQueryKey``, then ``FanoutSlices``): on an item slice such
    as ``item_popularity=tail`` a per-user metric is each touching user's whole eval list, i.e.
    about the overall value under the slice's name (head/torso/tail GAUC read 0.7201/0.7205/0.7204).
    TFMA 0.47 has no per-slice query key and a combiner never learns its slice, so these cannot be
    computed within the slice there; they are withheld instead of mislabelled.

    The test is per slice and needs no feature config: a slice holds whole user lists exactly when
    the documents of its queries (``total_documents``: the users' list lengths, summed) equal its
    example count; true for user-side slices (gender, activity), false for item slices and for
    crosses with an item feature.
    """
    from recsys.evaluation.eval_config import PER_USER_METRICS

    documents = s.metrics.get("total_documents")
    examples = s.metrics.get("example_count")
    if documents is None or examples is None or abs(documents - examples) < 0.5:
        return s
    why = PER_USER_OFF_SLICE
    keep = {k: v for k, v in s.metrics.items() if _base(k) not in PER_USER_METRICS}
    undefined = {**s.undefined, **{k: why for k in s.metrics.keys() | s.undefined.keys()
                                   if _base(k) in PER_USER_METRICS}}

    def kept(d: dict) -> dict:
        return {k: v for k, v in d.items() if _base(k) not in PER_USER_METRICS}

    return SliceMetrics(s.slice, keep, kept(s.diffs), undefined, kept(s.intervals),
                        kept(s.diff_intervals), s.interval_errors)


def _model_names(uri: str) -> tuple[str, str | None]:
    """(candidate, baseline or None) from the evaluation's stored EvalConfig."""
    from tensorflow_model_analysis.writers import eval_config_writer

    config = eval_config_writer.load_eval_run(uri)[0]
    candidate = next((m.name for m in config.model_specs if not m.is_baseline), "")
    baseline = next((m.name for m in config.model_specs if m.is_baseline), None)
    return candidate, baseline


def _primary_output() -> str:
    """A multi-task ranker's CTR output (``models/export.py``): its metrics keep the plain names.
    Imported here, not at the top: the export module loads TensorFlow."""
    from recsys.models.export import PREDICTION_KEYS

    return PREDICTION_KEYS["binary"]


def _first_output(metrics_by_output: dict) -> dict:
    """``{output: {sub_key: ...}}`` -> the single-output model's ``{sub_key: ...}`` (a multi-task
    ranker's: its CTR output's)."""
    if not metrics_by_output:  # e.g. a regressor's run has no calibration plot: None
        return {}
    if len(metrics_by_output) > 1 and _primary_output() in metrics_by_output:
        return metrics_by_output[_primary_output()]
    return next(iter(metrics_by_output.values()))


def _merged_outputs(metrics_by_output: dict) -> dict:
    """``{output: {sub_key: {name: value}}}`` -> one ``{sub_key: {name: value}}``: a single
    output's as it is; a multi-task ranker's CTR output under the plain names (so the report, the
    summary and the gate's figures read ``auc`` as before) and every other output's metrics as
    ``<output>/<name>`` (``ctcvr/auc``, ``purchase_probability/auc``)."""
    if not metrics_by_output or len(metrics_by_output) <= 1:
        return _first_output(metrics_by_output)
    merged: dict = {}
    primary = _primary_output()
    for output, by_sub_key in metrics_by_output.items():
        prefix = "" if output == primary else output + "/"
        for sub_key, values in by_sub_key.items():
            merged.setdefault(sub_key, {}).update({prefix + k: v for k, v in values.items()})
    return merged


def _calibration(result) -> list[CalibrationBucket]:
    for slice_key, plots in result.plots:
        if slice_key != ():
            continue
        data = _first_output(plots).get("", {})  # {output: {sub_key: plot}}, no sub key
        buckets = data.get("calibrationHistogramBuckets", {}).get("buckets", [])
        out = []
        for b in buckets:
            n = float(b.get("numWeightedExamples", 0.0))
            if n <= 0:
                continue
            out.append(CalibrationBucket(
                lower=float(b.get("lowerThresholdInclusive", "-inf")),
                upper=float(b.get("upperThresholdExclusive", "inf")), examples=n,
                mean_prediction=float(b.get("totalWeightedRefinedPrediction", 0.0)) / n,
                mean_label=float(b.get("totalWeightedLabel", 0.0)) / n))
        return out
    return []


def _verdict(uri: str) -> Verdict | None:
    import tensorflow_model_analysis as tfma

    if not any(f.startswith("validations") for f in os.listdir(uri)):
        return None
    v = tfma.load_validation_result(uri)
    failures = []
    for per_slice in v.metric_validations_per_slice:
        key = per_slice.slice_key
        name = slice_name([(c.column, getattr(c, c.WhichOneof("kind")))
                           for c in key.single_slice_keys])
        for f in per_slice.failures:
            metric = f.metric_key.name + (" (change vs baseline)" if f.metric_key.is_diff else "")
            value = f.metric_value.double_value.value
            failures.append(f"{name}: {metric} = {value:.4f} fails {_threshold_text(f.metric_threshold)}")
    return Verdict(passed=bool(v.validation_ok), failures=failures)


def _threshold_text(threshold) -> str:
    """A MetricThreshold in words, e.g. ">= 0.6 and absolute change >= -0.01 vs baseline"."""
    from tensorflow_model_analysis.proto import config_pb2

    parts = []
    if threshold.HasField("value_threshold"):
        t = threshold.value_threshold
        if t.HasField("lower_bound"):
            parts.append(f">= {t.lower_bound.value:g}")
        if t.HasField("upper_bound"):
            parts.append(f"<= {t.upper_bound.value:g}")
    if threshold.HasField("change_threshold"):
        t = threshold.change_threshold
        higher = t.direction == config_pb2.MetricDirection.HIGHER_IS_BETTER
        for kind in ("absolute", "relative"):
            if t.HasField(kind):
                parts.append(f"{kind} change {'>=' if higher else '<='} "
                             f"{getattr(t, kind).value:g} vs baseline")
    return " and ".join(parts)


def load(uri: str) -> Evaluation:
    """Reads a TFMA output directory; raises FileNotFoundError naming it if it holds no metrics."""
    import tensorflow_model_analysis as tfma

    if not os.path.isdir(uri) or not any(f.startswith("metrics") for f in os.listdir(uri)):
        raise FileNotFoundError(f"{uri}: no TFMA metrics files (metrics-*); expected an Evaluator "
                                "ModelEvaluation directory or a tfma.run_model_analysis output_path")
    candidate, baseline_name = _model_names(uri)
    result = tfma.load_eval_result(uri, model_name=candidate or None)
    slices = [withhold_per_user_off_slice(flatten(_merged_outputs(by_output), slice_name(slice_key)))
              for slice_key, by_output in result.slicing_metrics]
    # Overall, then single-feature slices, then crosses; by name within each.
    slices.sort(key=lambda s: (s.slice != OVERALL, s.slice.count(" & "), s.slice))
    baseline, baseline_intervals = None, {}
    if baseline_name is not None:
        base = tfma.load_eval_result(uri, model_name=baseline_name)
        for slice_key, by_output in base.slicing_metrics:
            if slice_key == ():
                overall = flatten(_merged_outputs(by_output))
                baseline, baseline_intervals = overall.metrics, overall.intervals
    return Evaluation(uri=uri, candidate=candidate, slices=slices, baseline=baseline,
                      calibration=_calibration(result), verdict=_verdict(uri),
                      baseline_intervals=baseline_intervals)


def latest_evaluation_uri(metadata_path: str, component_id: str = "Evaluator") -> str:
    """The ModelEvaluation output of the newest ``component_id`` execution in an MLMD store.

    By execution, not by newest ModelEvaluation artifact: the RetrievalEvaluator writes
    ModelEvaluation artifacts too.
    """
    from recsys.evaluation.metadata import latest_output

    artifact = latest_output(_store(metadata_path), component_id, "ModelEvaluation")
    if artifact is None:
        raise FileNotFoundError(f"no ModelEvaluation from an {component_id!r} execution in the MLMD "
                                f"store {metadata_path}; run `recsys run` first or pass --eval-dir")
    return artifact.uri


def find_retrieval_metrics(metadata_path: str) -> str | None:
    """``retrieval_metrics.json`` of the newest RetrievalEvaluator execution, if any."""
    from recsys.evaluation.metadata import latest_output

    if not os.path.exists(metadata_path):
        return None
    artifact = latest_output(_store(metadata_path), "RetrievalEvaluator", "ModelEvaluation")
    path = os.path.join(artifact.uri, RETRIEVAL_FILE) if artifact is not None else None
    return path if path and os.path.exists(path) else None


def load_retrieval(path: str) -> dict:
    """``retrieval_metrics.json``: {"overall": {name: x}, "slices": {...}, "baseline": {...},
    "blessed": bool}; every key but "overall" optional."""
    with open(path) as fh:
        data = json.load(fh)
    if not isinstance(data, dict) or not isinstance(data.get("overall"), dict):
        raise ValueError(f"{path}: expected a JSON object with an 'overall' object of metrics; "
                         f"got keys {sorted(data) if isinstance(data, dict) else type(data).__name__}")
    return data


def _store(metadata_path: str):
    from recsys.evaluation.metadata import open_store

    try:
        return open_store(metadata_path)
    except FileNotFoundError as e:
        raise FileNotFoundError(f"{e} (or pass --eval-dir)") from None
