"""The REST codec: its fast path agrees with the value-by-value path on every input, and the
response shapes follow TF Serving's row/columnar rules."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recsys.serving import json_tensor
from recsys.serving.status import ServingError

leaf = st.one_of(st.booleans(), st.integers(-2**65, 2**65), st.floats(allow_nan=False),
                 st.text(max_size=5), st.none())
values = st.one_of(leaf, st.lists(leaf, max_size=4),
                   st.lists(st.lists(leaf, max_size=3), max_size=4),
                   st.lists(st.lists(st.lists(leaf, max_size=2), max_size=2), max_size=2))
DTYPES = ["DT_FLOAT", "DT_DOUBLE", "DT_INT64", "DT_INT32", "DT_UINT8", "DT_STRING", "DT_BOOL"]


def _checked(value, dtype):
    try:
        return json_tensor._checked_array(value, dtype, "x")
    except ServingError as e:
        return e


@settings(max_examples=3000, deadline=None, derandomize=True)
@given(value=values, dtype=st.sampled_from(DTYPES))
def test_fast_path_equals_checked_path(value, dtype):
    fast = json_tensor._fast_array(value, dtype)
    if fast is None:
        return
    checked = _checked(value, dtype)
    assert not isinstance(checked, ServingError), (value, dtype, checked.message)
    assert fast.shape == checked.shape and fast.dtype == checked.dtype
    assert fast.tolist() == checked.tolist()


@pytest.mark.parametrize("value,dtype,needle", [
    ([1, True], "DT_INT64", "true"), ([1.5], "DT_INT64", "not an integer"),
    (["a", 1], "DT_STRING", "not a string"), ([[1, 2], [3]], "DT_FLOAT", "dense"),
    ([2**63], "DT_INT64", "out of range"), ([-1], "DT_UINT8", "out of range")])
def test_mismatches_are_named(value, dtype, needle):
    with pytest.raises(ServingError) as e:
        json_tensor.to_array(value, dtype, "input 'x'")
    assert e.value.http_status == 400
    assert "input 'x'" in e.value.message and needle.lower() in e.value.message.lower()


def test_row_and_columnar_responses():
    one = {"p": np.array([0.5, 0.25], np.float32)}
    assert json_tensor.format_predict(one, "row") == {"predictions": [0.5, 0.25]}
    assert json_tensor.format_predict(one, "columnar") == {"outputs": [0.5, 0.25]}
    two = {"ids": np.array([[b"a", b"b"]], object), "s": np.array([[1.0, np.nan]])}
    assert json_tensor.format_predict(two, "row") == {"predictions": [{"ids": ["a", "b"], "s": [1.0, None]}]}
    with pytest.raises(ServingError, match="columnar"):
        json_tensor.format_predict({"a": np.zeros(2), "b": np.zeros(3)}, "row")


@pytest.mark.parametrize("value,dtype", [
    (["a", "bc"], "DT_STRING"), ([["a", ""], ["b", "c"]], "DT_STRING"), ([1, 2], "DT_INT64"),
    ([[1.5, 2], [3, 4]], "DT_FLOAT"), ([7], "DT_INT32")])
def test_the_fast_path_takes_dense_lists(value, dtype):
    fast = json_tensor._fast_array(value, dtype)
    assert fast is not None  # else every request pays for the value-by-value path
    assert fast.tolist() == json_tensor._checked_array(value, dtype, "x").tolist()
