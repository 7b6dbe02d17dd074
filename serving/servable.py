"""One loaded model version: the SavedModel's signatures, callable with numpy inputs.

Signature metadata (method names, input/output dtypes and shapes) is read from ``saved_model.pb``
itself -- the SignatureDefs TF Serving reports and dispatches on -- not from the Python objects,
so ``:classify``/``:regress`` are answered only for signatures whose method says so, as in TF
Serving (TF2's ``tf.saved_model.save`` gives every signature ``tensorflow/serving/predict``).
"""

from __future__ import annotations

import dataclasses
import os
import time

import numpy as np

from recsys.serving.status import ServingError, invalid

PREDICT = "tensorflow/serving/predict"
CLASSIFY = "tensorflow/serving/classify"
REGRESS = "tensorflow/serving/regress"
DEFAULT_SIGNATURE = "serving_default"


@dataclasses.dataclass(frozen=True)
class SignatureInfo:
    method: str
    inputs: dict[str, tuple[str, list[int] | None]]  # name -> (DT_* dtype name, shape or None)
    outputs: dict[str, tuple[str, list[int] | None]]


def _tensor_specs(tensor_infos) -> dict[str, tuple[str, list[int] | None]]:
    from tensorflow.core.framework import types_pb2

    out = {}
    for name, info in tensor_infos.items():
        shape = None if info.tensor_shape.unknown_rank else [d.size for d in info.tensor_shape.dim]
        out[name] = (types_pb2.DataType.Name(info.dtype), shape)
    return out


def read_signature_defs(path: str):
    """The ``serving`` MetaGraphDef's SignatureDef map of the SavedModel at ``path``."""
    from tensorflow.core.protobuf import saved_model_pb2

    saved = saved_model_pb2.SavedModel()
    with open(os.path.join(path, "saved_model.pb"), "rb") as fh:
        saved.ParseFromString(fh.read())
    for meta in saved.meta_graphs:
        if "serve" in meta.meta_info_def.tags:
            return meta.signature_def
    raise ValueError(f"{path}: no MetaGraphDef tagged 'serve'")


class Servable:
    """A SavedModel version loaded with TensorFlow; thread-safe to call."""

    def __init__(self, name: str, version: int, path: str):
        import tensorflow as tf

        self.name, self.version, self.path = name, version, path
        started = time.monotonic()
        self.signature_defs = read_signature_defs(path)
        self.signatures = {k: SignatureInfo(v.method_name, _tensor_specs(v.inputs),
                                            _tensor_specs(v.outputs))
                           for k, v in self.signature_defs.items()}
        self._loaded = tf.saved_model.load(path, tags=["serve"])
        self._functions = dict(self._loaded.signatures)
        self.load_seconds = time.monotonic() - started

    def signature(self, name: str | None, method: str | None = None) -> SignatureInfo:
        key = name or DEFAULT_SIGNATURE
        if key not in self.signatures or key not in self._functions:
            raise invalid(f'Serving signature name: "{key}" not found in signature def '
                          f"(this model has {sorted(self.signatures)})")
        info = self.signatures[key]
        if method and info.method != method:
            kind = {CLASSIFY: "classification", REGRESS: "regression"}.get(method, method)
            raise ServingError("FAILED_PRECONDITION",
                               f"Expected {kind} signature method_name to be {method}. "
                               f"Was: {info.method}")
        return info

    def run(self, signature_name: str | None, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Calls the signature; TensorFlow's argument errors become INVALID_ARGUMENT (HTTP 400)."""
        import tensorflow as tf

        key = signature_name or DEFAULT_SIGNATURE
        info = self.signature(key)
        fn = self._functions[key]
        tensors = {}
        for name, arr in inputs.items():
            dtype = tf.string if info.inputs[name][0] == "DT_STRING" else tf.as_dtype(arr.dtype)
            tensors[name] = tf.constant(arr, dtype=dtype)
        try:
            out = fn(**tensors)
        except (tf.errors.InvalidArgumentError, tf.errors.OutOfRangeError, ValueError, TypeError) as e:
            message = getattr(e, "message", None) or str(e)
            raise invalid(f"{self.name} version {self.version} signature {key!r}: "
                          f"{message.strip().splitlines()[0][:500]}") from None
        return {k: v.numpy() for k, v in out.items()}
