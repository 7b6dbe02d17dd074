"""Serving signatures, all derived from the Transform output and the feature config.

* ``serving_default``      serialized ``tf.Example`` strings (base64 over TF Serving REST) ->
                           raw parse -> embedded Transform graph -> model.
* ``serving_raw``          one JSON-friendly tensor per raw feature: scalars as [B], multi-valued
                           features as [B, N] padded with "" (the padding is dropped before
                           Transform, exactly as if the tf.Example had fewer values).
* ``transform_features``   serialized ``tf.Example`` -> transformed features (TFMA / debugging).

Outputs: ``{"probability": [B]}`` for a binary ranker, ``{"rating": [B]}`` for regression.
"""

from __future__ import annotations

import tensorflow as tf

from recsys.features import FeatureConfig

PREDICTION_KEYS = {"binary": "probability", "regression": "rating"}


def _outputs(model, transformed, label_mode: str) -> dict[str, tf.Tensor]:
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


def make_signatures(model, tf_transform_output, features: FeatureConfig, label_mode: str) -> dict:
    """The three signatures; ``model.tft_layer`` is set so the Transform graph is saved with it."""
    model.tft_layer = tf_transform_output.transform_features_layer()
    raw_spec = serving_feature_spec(tf_transform_output, features)  # labels are not served
    full_spec = serving_feature_spec(tf_transform_output, features, with_labels=True)
    raw_inputs = raw_input_signature(raw_spec)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve_tf_examples(examples):
        raw = tf.io.parse_example(examples, raw_spec)
        return _outputs(model, model.tft_layer(raw), label_mode)

    # Signature inputs are named by their TensorSpec names, so positional tensors arrive per feature.
    @tf.function(input_signature=list(raw_inputs.values()))
    def serve_raw(*tensors):
        parsed = {}
        for name, t in zip(raw_inputs, tensors):
            s = raw_spec[name]
            if isinstance(s, tf.io.VarLenFeature):
                # "" padding is dropped: the same as a tf.Example with fewer values.
                parsed[name] = tf.sparse.from_dense(t)
            else:
                parsed[name] = tf.reshape(t, [-1] + list(s.shape))
        return _outputs(model, model.tft_layer(parsed), label_mode)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def transform_features(examples):
        return model.tft_layer(tf.io.parse_example(examples, full_spec))

    return {
        "serving_default": serve_tf_examples.get_concrete_function(),
        "serving_raw": serve_raw.get_concrete_function(),
        "transform_features": transform_features.get_concrete_function(),
    }


def save(model, tf_transform_output, features: FeatureConfig, label_mode: str, path: str) -> None:
    signatures = make_signatures(model, tf_transform_output, features, label_mode)
    tf.saved_model.save(model, path, signatures=signatures)
