"""Serving signatures, all derived from the Transform output and the feature config.

* ``serving_default``      serialized ``tf.Example`` strings (base64 over TF Serving REST) ->
                           raw parse -> embedded Transform graph -> model.
* ``serving_raw``          one JSON-friendly tensor per raw feature: scalars as [B], multi-valued
                           features as [B, N] padded with "" (the padding is dropped before
                           Transform, exactly as if the tf.Example had fewer values). An empty
                           batch gives empty outputs, also when TF Serving feeds an empty
                           multi-valued input as [0] (it does not check the signature's rank).
* ``transform_features``   serialized ``tf.Example`` -> transformed features (TFMA / debugging).
* ``evaluation_slices``    serialized ``tf.Example`` -> the cold-start marks only (TFMA's slices;
                           ``FeatureConfig.cold_slices``).

Outputs: ``{"probability": [B]}`` for a binary ranker, ``{"rating": [B]}`` for regression; a
multi-task ranker (``train.multitask``) adds ``purchase_probability`` (pCVR, the conversion
probability given a click) and ``ctcvr`` (pCTR * pCVR, click-and-convert) beside ``probability``
(pCTR, unchanged, so every client that reads it keeps working).

``save`` also writes TF Serving's warmup file (``serving/warmup.py``) from real raw examples:
``serving_default`` with 1 and with ``WARMUP_BATCH`` examples and ``serving_raw`` with
``WARMUP_RAW_INSTANCES`` instances, so a freshly loaded version answers its first requests warm.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from recsys.features import FeatureConfig
from recsys.models.esmm import ctcvr_probability
from recsys.serving.warmup import write_warmup

PREDICTION_KEYS = {"binary": "probability", "regression": "rating"}
CVR_KEY, CTCVR_KEY = "purchase_probability", "ctcvr"  # a multi-task ranker's other two outputs


# The signature TFMA runs to slice on Transform outputs (eval_config.py): only the cold-start marks.
# Not ``transform_features``: TFMA looks a slice feature up in the transformed features first, and
# there ``item_category`` is a vocabulary id, so every raw-valued slice would be named by an id.
SLICE_SIGNATURE = "evaluation_slices"


def output_keys(label_mode: str, multitask: str = "off") -> tuple[str, ...]:
    """The outputs of a ranker's serving signatures (``train.multitask``: three)."""
    if multitask != "off":
        return (PREDICTION_KEYS["binary"], CVR_KEY, CTCVR_KEY)
    return (PREDICTION_KEYS[label_mode],)
WARMUP_BATCH = 100  # the large batch size warmed up (besides single requests)
WARMUP_RAW_INSTANCES = 3


def _outputs(model, transformed, label_mode: str) -> dict[str, tf.Tensor]:
    if getattr(model, "aux_product", False):  # ESMM / MMoE (models/esmm.py)
        ctr, cvr = (tf.reshape(t, [-1]) for t in model(transformed, return_aux=True))
        return {PREDICTION_KEYS["binary"]: tf.sigmoid(ctr), CVR_KEY: tf.sigmoid(cvr),
                CTCVR_KEY: ctcvr_probability(ctr, cvr)}
    logits = tf.reshape(model(transformed), [-1])
    value = tf.sigmoid(logits) if label_mode == "binary" else logits
    return {PREDICTION_KEYS[label_mode]: value}


def serving_feature_spec(tf_transform_output, features: FeatureConfig, *, with_labels: bool = False):
    """The Transform graph's own raw input spec, restricted to model features (and labels).

    Taken from the Transform output rather than rebuilt, so serving parses exactly what Transform
    was traced with (e.g. ``[1]``-shaped scalars from a schema with ``shape { dim { size: 1 } }``).
    """
    spec = tf_transform_output.raw_feature_spec()
    wanted = [f.name for f in features.features] + (list(features.label_keys) if with_labels else [])
    missing = [n for n in wanted if n not in spec]
    if missing:
        raise ValueError(f"features {missing} are not in the Transform output's raw spec "
                         f"(schema features: {sorted(spec)})")
    return {n: spec[n] for n in wanted}


def raw_input_signature(spec) -> dict[str, tf.TensorSpec]:
    """JSON-friendly inputs: [B] per scalar feature, [B, N] ""-padded per multi-valued one."""
    out = {}
    for name, s in spec.items():
        if isinstance(s, tf.io.VarLenFeature):
            if s.dtype != tf.string:
                raise ValueError(f"feature {name!r}: serving_raw pads multi-valued features with '', "
                                 f"so they must be strings; got {s.dtype.name}")
            out[name] = tf.TensorSpec([None, None], s.dtype, name=name)
        else:
            out[name] = tf.TensorSpec([None], s.dtype, name=name)
    return out


def as_matrix(t: tf.Tensor) -> tf.Tensor:
    """A multi-valued ``serving_raw`` input as [B, N].

    The signature declares [B, N], but TF Serving feeds request tensors without checking their
    rank: a columnar ``"history": []`` arrives as shape [0], which must stay an empty batch
    ([0, 0]) rather than fail deep inside the Transform graph; a [B] vector becomes [B, 1].
    """
    rows = tf.shape(t, out_type=tf.int64)[0]
    return tf.reshape(t, tf.stack([rows, tf.size(t, out_type=tf.int64) // tf.maximum(rows, 1)]))


def parse_raw(inputs: dict[str, tf.Tensor], spec) -> dict:
    """``serving_raw`` inputs -> what ``tf.io.parse_example`` gives for the same values: the ""
    padding of multi-valued features is dropped, scalars take the spec's shape."""
    parsed = {}
    for name, s in spec.items():
        t = inputs[name]
        parsed[name] = (tf.sparse.from_dense(as_matrix(t)) if isinstance(s, tf.io.VarLenFeature)
                        else tf.reshape(t, [-1] + list(s.shape)))
    return parsed


def serialize_examples(rows: list[dict], spec) -> np.ndarray:
    """Raw rows (feature name -> value, multi-valued ones as unpadded lists) -> serialized
    ``tf.Example`` s holding the features of ``spec``, in the dtypes it parses."""
    out = []
    for row in rows:
        example = tf.train.Example()
        for name, s in spec.items():
            values = np.asarray(row[name]).reshape(-1)
            if not len(values):
                continue  # no values: the feature is absent, as in the original tf.Example
            feature = example.features.feature[name]
            if s.dtype == tf.string:
                feature.bytes_list.value.extend(v if isinstance(v, bytes) else str(v).encode()
                                                for v in values)
            elif s.dtype.is_floating:
                feature.float_list.value.extend(float(v) for v in values)
            else:
                feature.int64_list.value.extend(int(v) for v in values)
        out.append(example.SerializeToString())
    return np.array(out, dtype=object)


def raw_instances(rows: list[dict], spec) -> dict[str, np.ndarray]:
    """Raw rows -> ``serving_raw`` inputs: [B] per scalar, [B, N] ""-padded per multi-valued."""
    out = {}
    for name, s in spec.items():
        if isinstance(s, tf.io.VarLenFeature):
            lists = [list(np.asarray(r[name], dtype=object).reshape(-1)) for r in rows]
            width = max([len(v) for v in lists] + [1])
            out[name] = np.array([v + [b""] * (width - len(v)) for v in lists], dtype=object)
        else:
            out[name] = np.array([np.asarray(r[name]).reshape(-1)[0] for r in rows],
                                 dtype=object if s.dtype == tf.string else s.dtype.as_numpy_dtype)
    return out


def cycle(rows: list, n: int) -> list:
    """``n`` rows, repeating ``rows`` when there are fewer (warmup wants the batch size itself)."""
    if not rows:
        raise ValueError("no raw examples to build warmup requests from")
    return [rows[i % len(rows)] for i in range(n)]


def warmup_requests(rows: list[dict], spec) -> list[tuple[str, dict[str, np.ndarray]]]:
    """The ranker's warmup: ``serving_default`` with 1 and ``WARMUP_BATCH`` examples,
    ``serving_raw`` with ``WARMUP_RAW_INSTANCES`` instances, all from ``rows``."""
    return [("serving_default", {"examples": serialize_examples(cycle(rows, 1), spec)}),
            ("serving_default", {"examples": serialize_examples(cycle(rows, WARMUP_BATCH), spec)}),
            ("serving_raw", raw_instances(cycle(rows, WARMUP_RAW_INSTANCES), spec))]


def make_signatures(model, tf_transform_output, features: FeatureConfig, label_mode: str) -> dict:
    """The four signatures; ``model.tft_layer`` is set so the Transform graph is saved with it."""
    model.tft_layer = tf_transform_output.transform_features_layer()
    raw_spec = serving_feature_spec(tf_transform_output, features)  # labels are not served
    full_spec = serving_feature_spec(tf_transform_output, features, with_labels=True)
    raw_inputs = raw_input_signature(raw_spec)
    # autograph=False: plain graph code (see models/train_step.py); converting the model's layers
    # again here cost ~4 CPU seconds per export.

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")], autograph=False)
    def serve_tf_examples(examples):
        raw = tf.io.parse_example(examples, raw_spec)
        return _outputs(model, model.tft_layer(raw), label_mode)

    # Signature inputs are named by their TensorSpec names, so positional tensors arrive per feature.
    @tf.function(input_signature=list(raw_inputs.values()), autograph=False)
    def serve_raw(*tensors):
        parsed = parse_raw(dict(zip(raw_inputs, tensors)), raw_spec)
        return _outputs(model, model.tft_layer(parsed), label_mode)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")], autograph=False)
    def transform_features(examples):
        return model.tft_layer(tf.io.parse_example(examples, full_spec))

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def evaluation_slices(examples):
        transformed = model.tft_layer(tf.io.parse_example(examples, raw_spec))
        return {name: transformed[name] for name in features.cold_slices}

    return {
        "serving_default": serve_tf_examples.get_concrete_function(),
        "serving_raw": serve_raw.get_concrete_function(),
        "transform_features": transform_features.get_concrete_function(),
        SLICE_SIGNATURE: evaluation_slices.get_concrete_function(),
    }


def save(model, tf_transform_output, features: FeatureConfig, label_mode: str, path: str,
         warmup_rows: list[dict]) -> None:
    """The SavedModel with its signatures, then its warmup file from ``warmup_rows`` (raw eval
    examples: feature name -> value, multi-valued features as unpadded lists)."""
    signatures = make_signatures(model, tf_transform_output, features, label_mode)
    tf.saved_model.save(model, path, signatures=signatures)
    write_warmup(path, warmup_requests(warmup_rows, serving_feature_spec(tf_transform_output, features)))
