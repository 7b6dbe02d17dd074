"""A tiny feature config and data set shared by the transform, model and trainer tests."""

import base64
import functools
import os
import pickle
import tempfile

import apache_beam as beam
import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import metadata_io

from recsys.components.transform import preprocessing_fn
from recsys.features import Feature, FeatureConfig, FeatureCross

CONFIG = FeatureConfig(
    dataset="tiny",
    features=(
        Feature("user_id", "categorical", side="user", num_oov_buckets=2),
        Feature("item_id", "categorical", side="item", num_oov_buckets=3),
        Feature("item_price", "numeric", dtype="float", side="item", num_buckets=2),
        Feature("item_genres", "multi_categorical", side="item", max_length=2),
        Feature("history", "sequence", side="user", vocab_from="item_id", max_length=3),
    ),
    rating="rating",
    crosses=(FeatureCross(("user_id", "item_price"), hash_buckets=7),))

ROWS = [  # item 'a' x3, 'b' x2, 'c' x1 -> vocabulary ids a=0, b=1, c=2
    dict(user_id="u1", item_id="a", item_price=1.0, item_genres=["x", "y", "z"], history=[], label=1, rating=5.0),
    dict(user_id="u1", item_id="b", item_price=2.0, item_genres=["x"], history=["a"], label=0, rating=2.0),
    dict(user_id="u2", item_id="a", item_price=3.0, item_genres=[], history=["b", "a", "zz", "c"], label=1, rating=4.0),
    dict(user_id="u2", item_id="a", item_price=4.0, item_genres=["y"], history=["a"], label=0, rating=3.0),
    dict(user_id="u1", item_id="b", item_price=5.0, item_genres=["x"], history=[], label=1, rating=4.5),
    dict(user_id="u3", item_id="c", item_price=6.0, item_genres=["x"], history=["a", "b"], label=0, rating=1.0),
]


def analyze_and_transform(rows=ROWS, config=CONFIG):
    """Runs preprocessing_fn's analyzers and transform on Beam.

    Returns (transformed rows in input order, Beam's transformed rows in any order,
    TFTransformOutput). The ordered rows come from the saved Transform graph applied in TF --
    what serving does -- so tests can compare them with the Beam output.
    """
    metadata = tft.DatasetMetadata.from_feature_spec(config.raw_feature_spec(with_labels=True))
    out_dir = tempfile.mkdtemp()
    rows_path = os.path.join(out_dir, "beam_rows.txt")
    # An explicit pipeline: everything, WriteTransformFn included, has run when the block exits.
    # TFT's temp dir must outlive the pipeline: the written metadata can point into it.
    with beam.Pipeline() as p, tft_beam.Context(temp_dir=tempfile.mkdtemp(), force_tf_compat_v1=False):
        (data, _), fn = ((p | beam.Create(rows, reshuffle=False), metadata)
                         | tft_beam.AnalyzeAndTransformDataset(
                             lambda x: preprocessing_fn(x, {"features": config.to_dict()}),
                             output_record_batches=False))
        _ = fn | tft_beam.WriteTransformFn(out_dir)
        _ = (data | beam.Map(lambda r: base64.b64encode(pickle.dumps(r)).decode())
             | beam.io.WriteToText(rows_path, shard_name_template=""))
    # The TFX Transform component also saves the raw metadata; serving signatures read it.
    metadata_io.write_metadata(metadata, os.path.join(out_dir, tft.TFTransformOutput.RAW_METADATA_DIR))
    with open(rows_path) as fh:
        beam_rows = [pickle.loads(base64.b64decode(line)) for line in fh]
    out = tft.TFTransformOutput(out_dir)
    parsed = tf.io.parse_example(tf.constant([to_example(r) for r in rows]),
                                 config.raw_feature_spec(with_labels=True))
    batch = {k: v.numpy() for k, v in out.transform_features_layer()(parsed).items()}
    ordered = [{k: v[i] for k, v in batch.items()} for i in range(len(rows))]
    return ordered, beam_rows, out


def model_batch(rows, config=CONFIG) -> dict:
    """Transformed rows -> the model's input batch: every Transform output but the labels and the
    pass-through values, floats as float32."""
    skip = set(config.label_keys) | set(config.passthrough_keys())

    def arr(k):
        a = np.stack([r[k] for r in rows])
        return a.astype(np.float32) if a.dtype.kind == "f" else a
    return {k: tf.constant(arr(k)) for k in rows[0] if k not in skip}


def to_example(row) -> bytes:
    """A raw or transformed row -> serialized tf.Example."""
    feats = {}
    for k, v in row.items():
        vals = list(v) if hasattr(v, "__len__") and not isinstance(v, (str, bytes)) else [v]
        if vals and isinstance(vals[0], (str, bytes)):
            feats[k] = tf.train.Feature(bytes_list=tf.train.BytesList(
                value=[x.encode() if isinstance(x, str) else x for x in vals]))
        elif vals and isinstance(vals[0], float) or getattr(vals[0] if vals else 0, "dtype", None) in (
                "float32", "float64"):
            feats[k] = tf.train.Feature(float_list=tf.train.FloatList(value=[float(x) for x in vals]))
        elif vals:
            feats[k] = tf.train.Feature(int64_list=tf.train.Int64List(value=[int(x) for x in vals]))
    return tf.train.Example(features=tf.train.Features(feature=feats)).SerializeToString()


def write_gz(rows, path: str) -> str:
    with tf.io.TFRecordWriter(path, tf.io.TFRecordOptions(compression_type="GZIP")) as w:
        for r in rows:
            w.write(to_example(r))
    return path


def call_like_tf_serving(signature, **inputs):
    """Calls a loaded signature the way TF Serving's session feeds it: by input name, without
    checking a tensor's shape against the signature (a columnar JSON ``[]`` arrives as [0]).
    The Python wrapper checks shapes, so the concrete function's flat inputs are fed directly."""
    specs = signature.structured_input_signature[1]
    names = [t.name.split(":")[0] for t in signature.inputs[:len(specs)]]
    args = [tf.constant(inputs[n], dtype=specs[n].dtype) for n in names]
    return signature._call_flat(args + list(signature.captured_inputs), [])


@functools.lru_cache(maxsize=None)
def tiny_transform():
    """``analyze_and_transform()`` of ``ROWS`` with ``CONFIG``: the Beam pipeline runs once per test
    run and every module's fixture shares the result (read-only: copy before changing rows)."""
    return analyze_and_transform()
