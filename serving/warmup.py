"""TF Serving warmup records: ``<SavedModel>/assets.extra/tf_serving_warmup_requests``.

TF Serving replays this file when it loads a model version, before the version takes traffic, so
the first real requests do not pay for graph initialisation, lazy table loading and the first
run of each signature at each batch size (TF Serving's ``saved_model_warmup`` guide). The format
is TF Serving's: a TFRecord file of ``tensorflow_serving.apis.PredictionLog`` protos, each a
``predict_log.request`` (a ``PredictRequest`` naming its signature, inputs as ``TensorProto``),
at most ``MAX_RECORDS`` of them.

Pure functions on a SavedModel directory: ``write_warmup`` (called by the exports after
``tf.saved_model.save``), ``read_warmup`` (parses and checks every record) and
``replay_warmup`` (runs every request through a loaded model, as TF Serving does).
"""

from __future__ import annotations

import os
from typing import Iterable

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

ASSETS_EXTRA = "assets.extra"
WARMUP_FILE = "tf_serving_warmup_requests"
MAX_RECORDS = 1000  # TF Serving refuses a warmup file with more records
DEFAULT_SIGNATURE = "serving_default"  # what TF Serving runs for an empty signature_name

Request = tuple[str, dict[str, np.ndarray]]  # (signature name, input name -> value)


def warmup_path(saved_model_dir: str) -> str:
    return os.path.join(saved_model_dir, ASSETS_EXTRA, WARMUP_FILE)


def write_warmup(saved_model_dir: str, requests: Iterable[Request]) -> str:
    """Writes ``requests`` as TF Serving's warmup file of ``saved_model_dir``; returns its path.

    Call it after ``tf.saved_model.save`` (which does not know the file). Every request names its
    signature and gives every input of it; values are converted by ``tf.make_tensor_proto``.
    """
    requests = list(requests)
    if not requests:
        raise ValueError(f"no warmup requests for {saved_model_dir}: TF Serving would warm nothing")
    if len(requests) > MAX_RECORDS:
        raise ValueError(f"{len(requests)} warmup requests; TF Serving reads at most {MAX_RECORDS}")
    logs = []
    for i, (signature, inputs) in enumerate(requests):
        if not signature or not inputs:
            raise ValueError(f"warmup request {i}: expected a signature name and inputs, got "
                             f"{signature!r} with {sorted(inputs or {})}")
        request = predict_pb2.PredictRequest()
        request.model_spec.signature_name = signature
        for name, value in inputs.items():
            request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
        logs.append(prediction_log_pb2.PredictionLog(
            predict_log=prediction_log_pb2.PredictLog(request=request)))
    path = warmup_path(saved_model_dir)
    tf.io.gfile.makedirs(os.path.dirname(path))
    with tf.io.TFRecordWriter(path) as writer:
        for log in logs:
            writer.write(log.SerializeToString())
    return path


def _records(path: str):
    """(index, serialized record); a corrupt TFRecord framing raises naming the record."""
    it = iter(tf.data.TFRecordDataset(path))
    i = 0
    while True:
        try:
            record = next(it)
        except StopIteration:
            return
        except tf.errors.OpError as e:  # bad length/CRC: the file cannot be read past here
            raise ValueError(f"{path}: warmup record {i} is not a readable TFRecord: "
                             f"{e.message.splitlines()[0]}") from None
        yield i, record.numpy()
        i += 1


def read_warmup(saved_model_dir: str) -> list[Request]:
    """The warmup requests of ``saved_model_dir`` as (signature name, input name -> array).

    Raises ValueError naming the record index of a malformed record: a corrupt TFRecord frame,
    not a PredictionLog, not a predict request, no inputs, an undecodable tensor, or more records
    than TF Serving reads; and for a file without records.
    """
    path = warmup_path(saved_model_dir)
    if not tf.io.gfile.exists(path):
        raise FileNotFoundError(f"no warmup file: {path}")
    out = []
    for i, serialized in _records(path):
        if i >= MAX_RECORDS:
            raise ValueError(f"{path}: more than {MAX_RECORDS} warmup records (record {i}); "
                             "TF Serving would refuse the model")
        log = prediction_log_pb2.PredictionLog()
        try:
            log.ParseFromString(serialized)
        except Exception as e:  # protobuf's DecodeError
            raise ValueError(f"{path}: warmup record {i} is not a PredictionLog: {e}") from None
        if log.WhichOneof("log_type") != "predict_log" or not log.predict_log.HasField("request"):
            raise ValueError(f"{path}: warmup record {i} holds no predict request "
                             f"(log type {log.WhichOneof('log_type')!r})")
        request = log.predict_log.request
        if not request.inputs:
            raise ValueError(f"{path}: warmup record {i}: the predict request has no inputs")
        inputs = {}
        for name, proto in request.inputs.items():
            try:
                inputs[name] = tf.make_ndarray(proto)
            except Exception as e:
                raise ValueError(f"{path}: warmup record {i}: input {name!r} is not a readable "
                                 f"TensorProto: {e}") from None
        out.append((request.model_spec.signature_name or DEFAULT_SIGNATURE, inputs))
    if not out:
        raise ValueError(f"{path}: no warmup records")
    return out


def replay_warmup(loaded_model, saved_model_dir: str) -> int:
    """Runs every warmup request of ``saved_model_dir`` through ``loaded_model``'s signatures
    (a ``tf.saved_model.load`` result), as TF Serving does at load; returns how many ran."""
    count = 0
    for i, (signature, inputs) in enumerate(read_warmup(saved_model_dir)):
        if signature not in loaded_model.signatures:
            raise ValueError(f"warmup record {i}: signature {signature!r} is not in the model "
                             f"(it has {sorted(loaded_model.signatures)})")
        try:
            loaded_model.signatures[signature](**{k: tf.constant(v) for k, v in inputs.items()})
        except (TypeError, tf.errors.OpError) as e:
            raise ValueError(f"warmup record {i} ({signature}) fails: {str(e).splitlines()[0]}") from e
        count += 1
    return count
