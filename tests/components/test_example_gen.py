"""ImportExampleGen's streaming executor: the stock executor's outputs (splits, layout, every
example once), without the Reshuffle that holds every example in the DirectRunner's memory."""

import glob
import gzip
import os

import pytest


def _examples(n, offset=0):
    import tensorflow as tf

    return [tf.train.Example(features=tf.train.Features(feature={
        "example_id": tf.train.Feature(int64_list=tf.train.Int64List(value=[offset + i]))}))
        .SerializeToString() for i in range(n)]


def _write(path, records):
    import tensorflow as tf

    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tf.io.TFRecordWriter(path, options="GZIP") as writer:
        for r in records:
            writer.write(r)


def _read(pattern):
    import tensorflow as tf

    return [bytes(r.numpy()) for r in tf.data.TFRecordDataset(tf.io.gfile.glob(pattern),
                                                               compression_type="GZIP")]


def _run(tmp_path, executor_class):
    from tfx import v1 as tfx
    from tfx.dsl.components.base import base_beam_executor
    from tfx.proto import example_gen_pb2
    from tfx.types import standard_artifacts
    from tfx.utils import proto_utils

    from recsys.pipeline.pipeline import example_gen_configs

    base = tmp_path / "input"
    _write(str(base / "train" / "part-0.tfrecord.gz"), _examples(30))
    _write(str(base / "eval" / "part-0.tfrecord.gz"), _examples(10, offset=100))
    input_config, output_config = example_gen_configs("temporal", 0.2, "example_id")
    examples = standard_artifacts.Examples()
    examples.uri = str(tmp_path / f"out-{executor_class.__name__}")
    executor = executor_class(base_beam_executor.BaseBeamExecutor.Context(
        tmp_dir=str(tmp_path / "tmp"), beam_pipeline_args=["--direct_running_mode=in_memory"]))
    executor.Do({}, {"examples": [examples]}, {
        "input_base": str(base), "input_config": proto_utils.proto_to_json(input_config),
        "output_config": proto_utils.proto_to_json(output_config or tfx.proto.Output()),
        "output_data_format": example_gen_pb2.FORMAT_TF_EXAMPLE,
        "output_file_format": example_gen_pb2.FORMAT_TFRECORDS_GZIP})
    return examples


def test_writes_the_stock_executors_splits_layout_and_examples(tmp_path):
    from tfx.components.example_gen.import_example_gen import executor as stock

    from recsys.components.example_gen import StreamingImportExecutor

    ours, theirs = _run(tmp_path, StreamingImportExecutor), _run(tmp_path, stock.Executor)
    assert ours.split_names == theirs.split_names == '["train", "eval"]'
    assert ours.get_string_custom_property("payload_format") == "FORMAT_TF_EXAMPLE"
    for split, expected in (("train", _examples(30)), ("eval", _examples(10, offset=100))):
        pattern = os.path.join(ours.uri, f"Split-{split}", "data_tfrecord-*.gz")
        got = _read(pattern)
        assert sorted(got) == sorted(_read(os.path.join(theirs.uri, f"Split-{split}", "*")))
        assert sorted(got) == sorted(expected)  # every example exactly once
        assert all(gzip.open(p).read(1) for p in glob.glob(pattern))  # gzip files, none empty


def _transform_names(write):
    import apache_beam as beam

    p = beam.Pipeline()
    _ = p | beam.Create(_examples(3)) | write("/tmp/unused", "tfrecords_gzip", None)
    return [t.unique_name for t in p.to_runner_api().components.transforms.values()]


def test_the_write_has_no_reshuffle_and_the_stock_one_is_restored():
    from tfx.components.example_gen import write_split

    from recsys.components import example_gen

    stock = write_split.WriteSplit
    assert any("Shuffle" in name for name in _transform_names(stock))  # the control
    with example_gen._without_reshuffle():
        assert not any("Shuffle" in name for name in _transform_names(write_split.WriteSplit))
    assert write_split.WriteSplit is stock
    with pytest.raises(RuntimeError), example_gen._without_reshuffle():
        raise RuntimeError("an executor failure")
    assert write_split.WriteSplit is stock  # restored on failure too


def test_the_pipeline_runs_it_under_the_stock_node_id(pipeline_nodes):
    from recsys.components.example_gen import StreamingImportExecutor

    node = pipeline_nodes()["ImportExampleGen"]
    assert node.executor_spec.executor_class is StreamingImportExecutor
