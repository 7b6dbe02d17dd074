"""JSON <-> tensors exactly as TF Serving's REST API does it (``util/json_tensor.cc``, ``api_rest.md``).

Request formats of ``:predict``:

* **row** ``{"instances": [...]}``: one entry per example. Each entry is an object of named inputs,
  or -- when the signature has a single input -- the bare value. Every named input is stacked
  along a new batch dimension, so all instances must give each input the same shape.
* **columnar** ``{"inputs": ...}``: an object of named, already batched tensors, or the bare tensor
  of a single-input signature.

``{"b64": "..."}`` is a binary string (base64); the signature's dtype decides how every other
JSON value is read (an int64 input takes integers only, a float input integers or decimals).

Responses mirror the request: row requests get ``{"predictions": [...]}`` (per example, a bare
value when the signature has one output, else an object), columnar ones ``{"outputs": ...}``.
String outputs are written as UTF-8 text, or ``{"b64": ...}`` when the output name ends in
``_bytes`` or the bytes are not valid UTF-8.

``:classify`` / ``:regress`` take ``{"examples": [{feature: value}], "context": {...}}``: each
example (merged with the context) becomes a ``tf.Example`` (strings -> bytes_list, integers ->
int64_list, decimals -> float_list).
"""

from __future__ import annotations

import base64
import binascii
import math
from typing import Any

import numpy as np

from recsys.serving.status import invalid

# DataType enum names (tensorflow/core/framework/types.proto) -> numpy dtypes the REST API accepts.
NUMPY_DTYPES = {
    "DT_FLOAT": np.float32, "DT_DOUBLE": np.float64, "DT_HALF": np.float16,
    "DT_INT8": np.int8, "DT_INT16": np.int16, "DT_INT32": np.int32, "DT_INT64": np.int64,
    "DT_UINT8": np.uint8, "DT_UINT16": np.uint16, "DT_UINT32": np.uint32, "DT_UINT64": np.uint64,
    "DT_BOOL": np.bool_, "DT_STRING": object,
}


def _scalar(value: Any, dtype: str, where: str):
    """One JSON leaf as the dtype's Python value; a type mismatch names the input and the value."""
    if dtype == "DT_STRING":
        if isinstance(value, str):
            return value.encode("utf-8")
        if isinstance(value, dict) and set(value) == {"b64"} and isinstance(value["b64"], str):
            try:
                return base64.b64decode(value["b64"], validate=True)
            except (binascii.Error, ValueError):
                raise invalid(f"{where}: {{\"b64\": {value['b64'][:40]!r}}} is not valid base64") from None
        raise invalid(f"{where}: JSON value {_short(value)} is not a string (or {{\"b64\": ...}}), "
                      f"as input dtype DT_STRING expects")
    if dtype == "DT_BOOL":
        if isinstance(value, bool):
            return value
        raise invalid(f"{where}: JSON value {_short(value)} is not true/false, as DT_BOOL expects")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise invalid(f"{where}: JSON value {_short(value)} is not a number, as input dtype {dtype} "
                      f"expects")
    if dtype in ("DT_FLOAT", "DT_DOUBLE", "DT_HALF"):
        return float(value)
    if isinstance(value, float):
        raise invalid(f"{where}: JSON value {value!r} is not an integer, as input dtype {dtype} expects")
    info = np.iinfo(NUMPY_DTYPES[dtype])
    if not info.min <= value <= info.max:
        raise invalid(f"{where}: {value} is out of range for input dtype {dtype}")
    return value


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _shape_of(value: Any, where: str) -> tuple[int, ...]:
    """Shape of a nested JSON list; ragged nesting is an error (TF Serving needs dense tensors)."""
    if not isinstance(value, list):
        return ()
    if not value:
        return (0,)
    inner = _shape_of(value[0], where)
    for v in value[1:]:
        if _shape_of(v, where) != inner:
            raise invalid(f"{where}: lists of different lengths or depths at the same level "
                          f"(a tensor must be dense; pad the shorter lists)")
    return (len(value),) + inner


def _flatten(value: Any, out: list) -> None:
    if isinstance(value, list):
        for v in value:
            _flatten(v, out)
    else:
        out.append(value)


def _fast_array(value: Any, dtype: str) -> np.ndarray | None:
    """The common case without a Python call per value: a dense list (depth <= 2) whose values all
    have the dtype's JSON type. None -> take the checked path (which also words the errors)."""
    if not isinstance(value, list) or not value:
        return None
    rows = value if isinstance(value[0], list) else [value]
    if any(type(r) is not list for r in rows):
        return None
    if dtype == "DT_STRING":
        try:
            arr = np.array(value, dtype=object)
        except ValueError:  # ragged
            return None
        if arr.ndim != (2 if rows is value else 1):
            return None
        try:
            # str.encode refuses anything but a str (TypeError): one numpy loop both checks and
            # converts, where a Python check per value cost ~0.1 ms per 100-row ranking request.
            return np.frompyfunc(str.encode, 1, 1)(arr).astype(object)
        except TypeError:
            return None
    kinds = "iu" if dtype.startswith(("DT_INT", "DT_UINT")) else "iuf"
    if dtype not in ("DT_FLOAT", "DT_DOUBLE", "DT_HALF") and kinds == "iuf":
        return None  # bool and other dtypes: checked path
    if any(type(v) is bool for r in rows for v in r):
        return None  # numpy would read true as 1; TF Serving refuses it
    try:
        arr = np.asarray(value)
    except (ValueError, OverflowError):
        return None
    if arr.dtype.kind not in kinds or arr.ndim != (2 if rows is value else 1):
        return None  # bools, strings, big ints (object), ragged
    if kinds == "iu":
        info = np.iinfo(NUMPY_DTYPES[dtype])
        if arr.min() < info.min or arr.max() > info.max:
            return None
    return arr.astype(NUMPY_DTYPES[dtype])


def to_array(value: Any, dtype: str, where: str) -> np.ndarray:
    """A JSON (nested) value -> a dense numpy array of ``dtype``."""
    if dtype not in NUMPY_DTYPES:
        raise invalid(f"{where}: input dtype {dtype} is not supported over REST")
    fast = _fast_array(value, dtype)
    return fast if fast is not None else _checked_array(value, dtype, where)


def _checked_array(value: Any, dtype: str, where: str) -> np.ndarray:
    """Value by value: every mismatch is an error naming the input and the value."""
    shape = _shape_of(value, where)
    leaves: list = []
    _flatten(value, leaves)
    converted = [_scalar(v, dtype, where) for v in leaves]
    arr = np.empty(len(converted), dtype=NUMPY_DTYPES[dtype])
    arr[:] = converted
    return arr.reshape(shape)


def check_shape(arr: np.ndarray, expected: list[int] | None, where: str) -> None:
    """``expected`` is the signature's shape (-1 unknown) or None (unknown rank)."""
    if expected is None:
        return
    if arr.ndim != len(expected) or any(e >= 0 and e != a for e, a in zip(expected, arr.shape)):
        want = "[" + ", ".join("?" if e < 0 else str(e) for e in expected) + "]"
        raise invalid(f"{where}: got a tensor of shape {list(arr.shape)}, the signature expects {want}")


def parse_predict(body: Any, input_specs: dict[str, tuple[str, list[int] | None]], *,
                  max_batch: int) -> tuple[dict[str, np.ndarray], str]:
    """(input name -> array, "row" | "columnar") from a ``:predict`` body.

    ``input_specs``: the signature's inputs, name -> (dtype enum name, shape or None).
    """
    if "instances" in body and "inputs" in body:
        raise invalid("Not formatted correctly expecting only one of 'inputs' or 'instances' keys exist")
    if "instances" in body:
        return _parse_rows(body["instances"], input_specs, max_batch), "row"
    if "inputs" in body:
        return _parse_columns(body["inputs"], input_specs, max_batch), "columnar"
    raise invalid("Missing 'inputs' or 'instances' key")


def _parse_rows(instances, input_specs, max_batch):
    if not isinstance(instances, list):
        raise invalid(f"'instances' must be a list of examples, got {_short(instances)}")
    if len(instances) > max_batch:
        raise invalid(f"'instances' holds {len(instances)} examples; this server takes at most "
                      f"{max_batch} per request")
    names = list(input_specs)
    named = bool(instances) and all(isinstance(i, dict) and "b64" not in i for i in instances)
    if not named:
        if len(names) != 1:
            raise invalid(f"'instances' entries must be objects naming the signature's {len(names)} "
                          f"inputs {sorted(names)}")
        if any(isinstance(i, dict) and "b64" not in i for i in instances):
            raise invalid("'instances' mixes objects and bare values")
        dtype, shape = input_specs[names[0]]
        arr = to_array(instances, dtype, f"input {names[0]!r}")
        if not instances:
            arr = arr.reshape([0] + [max(d, 0) for d in (shape or [0, 0])[1:]])
        check_shape(arr, shape, f"input {names[0]!r}")
        return {names[0]: arr}
    keys = set(instances[0])
    for n, inst in enumerate(instances):
        if set(inst) != keys:
            raise invalid(f"instance {n} has inputs {sorted(inst)}, instance 0 has {sorted(keys)}: "
                          f"every instance must name the same inputs")
    _check_names(keys, input_specs)
    out = {}
    for name in names:
        dtype, shape = input_specs[name]
        arr = to_array([inst[name] for inst in instances], dtype, f"input {name!r}")
        check_shape(arr, shape, f"input {name!r}")
        out[name] = arr
    return out


def _parse_columns(inputs, input_specs, max_batch):
    names = list(input_specs)
    if isinstance(inputs, dict) and "b64" not in inputs:
        _check_names(set(inputs), input_specs)
        items = inputs.items()
    elif len(names) == 1:
        items = [(names[0], inputs)]
    else:
        raise invalid(f"'inputs' must be an object naming the signature's inputs {sorted(names)}")
    out = {}
    for name, value in items:
        dtype, shape = input_specs[name]
        arr = to_array(value, dtype, f"input {name!r}")
        check_shape(arr, shape, f"input {name!r}")
        if arr.ndim and arr.shape[0] > max_batch:
            raise invalid(f"input {name!r} has a batch of {arr.shape[0]}; this server takes at most "
                          f"{max_batch} per request")
        out[name] = arr
    return out


def _check_names(given: set, input_specs) -> None:
    expected = set(input_specs)
    if given != expected:
        parts = []
        if expected - given:
            parts.append(f"missing but required: {sorted(expected - given)}")
        if given - expected:
            parts.append(f"sent extra: {sorted(given - expected)}")
        raise invalid(f"input names do not match the signature ({'; '.join(parts)})")


def _json_value(arr: np.ndarray, b64: bool):
    if arr.dtype == object or arr.dtype.kind == "S":
        def enc(v: bytes):
            if not b64:
                try:
                    return v.decode("utf-8")
                except UnicodeDecodeError:
                    pass
            return {"b64": base64.b64encode(v).decode("ascii")}
        return np.frompyfunc(enc, 1, 1)(arr).tolist() if arr.ndim else enc(arr.item())
    if arr.dtype.kind == "f":
        # JSON has no NaN/Infinity; TF Serving writes them as the bare tokens, which strict JSON
        # parsers reject. null is the closest valid value.
        if not np.all(np.isfinite(arr)):
            return _nonfinite_to_none(arr.tolist())
    return arr.tolist()


def _nonfinite_to_none(value):
    if isinstance(value, list):
        return [_nonfinite_to_none(v) for v in value]
    return None if isinstance(value, float) and not math.isfinite(value) else value


def format_predict(outputs: dict[str, np.ndarray], fmt: str) -> dict:
    """The ``:predict`` response body for ``outputs`` (name -> array) in the request's format."""
    values = {k: _json_value(v, k.endswith("_bytes")) for k, v in outputs.items()}
    if fmt == "columnar":
        return {"outputs": next(iter(values.values())) if len(values) == 1 else values}
    batch = {k: (v.shape[0] if v.ndim else None) for k, v in outputs.items()}
    sizes = set(batch.values())
    if len(sizes) != 1 or None in sizes:
        raise invalid(f"row format needs every output batched alike, got batch sizes {batch}: use "
                      f"the columnar format ('inputs')")
    (n,) = sizes
    if len(values) == 1:
        return {"predictions": next(iter(values.values()))}
    return {"predictions": [{k: v[i] for k, v in values.items()} for i in range(n)]}


def example_from_json(features: dict, where: str) -> bytes:
    """One ``:classify``/``:regress`` example (a JSON object) -> a serialized ``tf.Example``."""
    from tensorflow.core.example import example_pb2

    if not isinstance(features, dict):
        raise invalid(f"{where}: an example must be an object of features, got {_short(features)}")
    example = example_pb2.Example()
    for name, value in features.items():
        values = value if isinstance(value, list) else [value]
        feature = example.features.feature[name]
        if all(isinstance(v, str) or (isinstance(v, dict) and "b64" in v) for v in values):
            feature.bytes_list.value.extend(_scalar(v, "DT_STRING", f"{where} feature {name!r}")
                                            for v in values)
        elif all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            feature.int64_list.value.extend(_scalar(v, "DT_INT64", f"{where} feature {name!r}")
                                            for v in values)
        elif all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            feature.float_list.value.extend(float(v) for v in values)
        else:
            raise invalid(f"{where} feature {name!r}: {_short(value)} is not a string, a number or "
                          f"a list of one of them")
    return example.SerializeToString()


def parse_examples(body: dict, *, max_batch: int) -> list[bytes]:
    """Serialized tf.Examples of a ``:classify``/``:regress`` body (context merged into each)."""
    examples = body.get("examples")
    if not isinstance(examples, list):
        raise invalid("Missing or invalid 'examples' key: expected a list of feature objects")
    if len(examples) > max_batch:
        raise invalid(f"'examples' holds {len(examples)}; this server takes at most {max_batch}")
    context = body.get("context", {})
    if not isinstance(context, dict):
        raise invalid(f"'context' must be an object of features, got {_short(context)}")
    return [example_from_json({**context, **e} if isinstance(e, dict) else e, f"example {i}")
            for i, e in enumerate(examples)]
