"""The tf.Example writer: every value kind lands in the right list, in order; bad values are
refused naming the field and the value."""

import numpy as np
import pytest
import tensorflow as tf

from recsys.data.canonical import RecordError, to_tf_example

BASE = {"example_id": "e1", "user_id": "u1", "item_id": "i1", "timestamp": 1_700_000_000,
        "label": 1, "history": ["i7", "i3"]}


def test_each_kind_of_value_in_its_list():
    record = {**BASE, "price": 9.5, "age": np.int64(34), "ratio": np.float32(0.25), "ids": [3, 1],
              "scores": [1, 2.5], "empty": [], "missing": None}
    f = tf.train.Feature
    expected = tf.train.Example(features=tf.train.Features(feature={
        "example_id": f(bytes_list=tf.train.BytesList(value=[b"e1"])),
        "user_id": f(bytes_list=tf.train.BytesList(value=[b"u1"])),
        "item_id": f(bytes_list=tf.train.BytesList(value=[b"i1"])),
        "timestamp": f(int64_list=tf.train.Int64List(value=[1_700_000_000])),
        "label": f(int64_list=tf.train.Int64List(value=[1])),
        "history": f(bytes_list=tf.train.BytesList(value=[b"i7", b"i3"])),  # order kept
        "price": f(float_list=tf.train.FloatList(value=[9.5])),
        "age": f(int64_list=tf.train.Int64List(value=[34])),
        "ratio": f(float_list=tf.train.FloatList(value=[0.25])),
        "ids": f(int64_list=tf.train.Int64List(value=[3, 1])),
        "scores": f(float_list=tf.train.FloatList(value=[1.0, 2.5])),  # ints among floats: floats
        # An empty list is an empty bytes list (a feature with no kind would not parse as one).
        "empty": f(bytes_list=tf.train.BytesList()),
    }))
    got = to_tf_example(record)
    assert got == expected
    assert got.features.feature["empty"].WhichOneof("kind") == "bytes_list"


@pytest.mark.parametrize("field, value, message", [
    ("label", True, r"field 'label': value True is a bool; expected int 0/1"),
    ("history", ["i1", 2], r"field 'history': list \['i1', 2\] mixes types"),
    ("price", {"a": 1}, r"field 'price': value \{'a': 1\} of type dict; expected str, int, float"),
])
def test_bad_values_name_the_field_and_value(field, value, message):
    with pytest.raises(RecordError, match=message):
        to_tf_example({**BASE, field: value})


def test_a_missing_common_field_is_named():
    with pytest.raises(RecordError, match=r"record 'e1' lacks required fields \['history'\]"):
        to_tf_example({k: v for k, v in BASE.items() if k != "history"})
