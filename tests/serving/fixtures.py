"""Small SavedModels and a live server for the REST tests (no pipeline run needed).

* ``export_predict_model``: a TF2 module whose signatures cover what the REST codec must handle:
  one string input (``serving_default``: tf.Example strings -> ``probability``), several typed
  inputs with two outputs (``multi``), a bytes output (``echo``: name ends in ``_bytes``).
  Its answers are known in closed form: probability = sigmoid(x * scale) of the example's ``x``.
* ``export_classify_regress_model``: a TF1-style SavedModel whose signatures carry the
  ``classify`` and ``regress`` methods (what TF2's ``tf.saved_model.save`` cannot produce).
* ``ServerThread``: uvicorn on a free loopback port in a thread, for tests over real HTTP.
"""

from __future__ import annotations

import os
import socket
import threading
import time

import numpy as np
import tensorflow as tf

from recsys.serving.manifest import write_manifest


def _feature_spec():
    return {"x": tf.io.FixedLenFeature([1], tf.float32, default_value=[0.0])}


class _PredictModule(tf.Module):
    def __init__(self, scale: float):
        super().__init__()
        self.scale = tf.Variable(scale)


def export_predict_model(path: str, scale: float = 1.0) -> str:
    module = _PredictModule(scale)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serving_default(examples):
        x = tf.io.parse_example(examples, _feature_spec())["x"][:, 0]
        return {"probability": tf.sigmoid(x * module.scale)}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.int64, name="count"),
                                  tf.TensorSpec([None, 2], tf.float32, name="pair"),
                                  tf.TensorSpec([None], tf.string, name="word")])
    def multi(count, pair, word):
        return {"total": tf.cast(count, tf.float32) + tf.reduce_sum(pair, axis=1) * module.scale,
                "length": tf.strings.length(word)}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="data")])
    def echo(data):
        return {"data_bytes": data, "upper": tf.strings.upper(data)}

    tf.saved_model.save(module, path, signatures={
        "serving_default": serving_default.get_concrete_function(),
        "multi": multi.get_concrete_function(), "echo": echo.get_concrete_function()})
    return path


def export_classify_regress_model(path: str) -> str:
    """half_plus_two over tf.Examples: regress -> 0.5 x + 2; classify -> classes a/b, scores."""
    with tf.Graph().as_default() as graph, tf.compat.v1.Session(graph=graph) as sess:
        serialized = tf.compat.v1.placeholder(tf.string, [None], name="tf_example")
        x = tf.io.parse_example(serialized, _feature_spec())["x"]  # [B, 1]
        y = 0.5 * x + 2.0
        scores = tf.concat([tf.sigmoid(x), 1 - tf.sigmoid(x)], axis=1)
        classes = tf.tile(tf.constant([["a", "b"]]), [tf.shape(x)[0], 1])
        sigs = tf.compat.v1.saved_model.signature_def_utils
        builder = tf.compat.v1.saved_model.Builder(path)
        builder.add_meta_graph_and_variables(sess, ["serve"], signature_def_map={
            "classify_x": sigs.classification_signature_def(serialized, classes, scores),
            "regress_x": sigs.regression_signature_def(serialized, y),
            "serving_default": sigs.predict_signature_def({"examples": serialized}, {"y": y}),
        })
        builder.save()
    return path


def push(base: str, version: int, exporter=export_predict_model, **kwargs) -> str:
    """Writes a complete, manifest-carrying version as the Pusher does: staged, then renamed."""
    staging = os.path.join(base, f".partial-{version}")
    exporter(staging, **kwargs)
    write_manifest(staging, model=os.path.basename(base), version=version)
    final = os.path.join(base, str(version))
    os.rename(staging, final)
    return final


def tf_example(features: dict) -> bytes:
    """A serialized tf.Example of raw features: str -> bytes_list, float -> float_list, int ->
    int64_list; a list gives several values of its elements' kind."""
    ex = tf.train.Example()
    for name, value in features.items():
        values = value if isinstance(value, list) else [value]
        feature = ex.features.feature[name]
        if values and isinstance(values[0], str):
            feature.bytes_list.value.extend(v.encode() for v in values)
        elif values and isinstance(values[0], float):
            feature.float_list.value.extend(values)
        else:
            feature.int64_list.value.extend(values)
    return ex.SerializeToString()


def example(x: float) -> bytes:
    return tf.train.Example(features=tf.train.Features(feature={
        "x": tf.train.Feature(float_list=tf.train.FloatList(value=[x]))})).SerializeToString()


def sigmoid(v):
    return 1 / (1 + np.exp(-np.asarray(v, dtype=np.float64)))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerThread:
    """Serves an ASGI app with uvicorn on 127.0.0.1:<free port> until ``stop()``."""

    def __init__(self, app):
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                                     log_level="warning", access_log=False))
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def start(self) -> "ServerThread":
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
