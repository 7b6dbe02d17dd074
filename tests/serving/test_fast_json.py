"""serving/fast_json.py: orjson's speed, the standard library's answers (values, types, errors)."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recsys.serving import fast_json


def same(a, b) -> bool:
    """Equal values of equal types all the way down (1 == 1.0 and nan != nan are not enough)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and a != a:
        return b != b
    return a == b


@pytest.mark.parametrize("raw", [
    b'{"a": 1, "b": [1.5, -0.0, "x", null, true], "a": 2}',
    b"NaN", b"[Infinity, -Infinity]",  # TF Serving writes them; orjson refuses them
    b"18446744073709551616", b"-9223372036854775809",  # orjson reads these as floats
    b"9223372036854775807", b"[12345678901234567890, 1]",
    b'"\\ud800"',  # a lone surrogate: json reads it, orjson refuses it
    b"\xef\xbb\xbf{}", b"1e400", b"0.1000000000000000055511151231257827",
])
def test_loads_answers_what_json_answers(raw):
    assert same(fast_json.loads(raw), json.loads(raw))


@pytest.mark.parametrize("raw", [b"", b"{", b'{"a": 1,}', b"\xff", b'"\x00"', b"[1] [2]"])
def test_loads_refuses_what_json_refuses_with_its_message(raw):
    with pytest.raises(ValueError) as expected:
        json.loads(raw)
    with pytest.raises(ValueError) as got:
        fast_json.loads(raw)
    assert type(got.value) is type(expected.value) and str(got.value) == str(expected.value)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-2 ** 70, 2 ** 70) | st.floats() | st.text(max_size=8),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=6), kids, max_size=4),
    max_leaves=20)


@settings(max_examples=300, deadline=None, database=None)
@given(JSON)
def test_loads_is_json_loads_on_any_document(value):
    raw = json.dumps(value).encode()  # allow_nan: NaN/Infinity literals too
    assert same(fast_json.loads(raw), json.loads(raw))


@settings(max_examples=300, deadline=None, database=None)
@given(JSON)
def test_dumps_round_trips_finite_documents(value):
    try:
        json.dumps(value, allow_nan=False)
    except ValueError:
        return  # not finite: not what dumps is for
    assert same(json.loads(fast_json.dumps(value)), value)


def test_dumps_falls_back_where_orjson_refuses():
    assert json.loads(fast_json.dumps({"n": 2 ** 70, "é": "x"})) == {"n": 2 ** 70, "é": "x"}
    with pytest.raises(ValueError):  # unpaired surrogate: not UTF-8, as with json + encode
        fast_json.dumps({"s": "\ud800"})
