"""ImportExampleGen's executor without the Reshuffle before the write, so memory stays flat.

TFX's ``WriteSplit`` (tfx/components/example_gen/write_split.py) puts a ``beam.Reshuffle`` before
every split's write ("TODO: make shuffle optional"). A Reshuffle is a GroupByKey, and Beam's local
DirectRunner (the FnApiRunner) holds a GroupByKey's whole input in the controller's memory: on
2 cores ImportExampleGen's peak RSS went from 3.5 GB at 100k events to 6.7 GB at 1M (~3.6 KB a
row, benchmarks/README.md "Scale"), so 10M events would not fit in 24 GB. Dataflow, Flink and
Spark spill a GroupByKey to disk; the DirectRunner cannot.

What the shuffle bought: a random file order for the Trainers. ``data/prepare.py`` writes the
examples already split, and both Trainers shuffle again every epoch through a 100k-record buffer
(``training/ranker.py``), which covers the whole training split up to ~100k examples (the default
data's 96k); beyond that an epoch now sees the examples in the prepared files' order, shuffled
within windows of 100k (time order, for the synthetic log). What it cost: every example held
in the controller. Everything else is the stock executor: the same input/output configs, hash
partitioning, payload format, file layout (``Split-<name>/data_tfrecord-*.gz``) and artifact
properties.
"""

from __future__ import annotations

import contextlib
import os

import apache_beam as beam
from tfx import v1 as tfx
from tfx.components.example_gen import write_split
from tfx.components.example_gen.import_example_gen import executor as import_executor
from tfx.dsl.components.base import executor_spec


@beam.ptransform_fn
def _write_split_in_order(examples, output_split_path: str, output_format: str, exec_properties=None):
    """``write_split.WriteSplit`` for gzip TFRecords (the only file format this pipeline writes),
    minus its Reshuffle."""
    del output_format, exec_properties
    return (examples
            | "MaybeSerialize" >> beam.ParDo(write_split.MaybeSerialize())
            | "Write" >> beam.io.WriteToTFRecord(
                os.path.join(output_split_path, write_split.DEFAULT_FILE_NAME),
                file_name_suffix=".gz"))


@contextlib.contextmanager
def _without_reshuffle():
    # The stock Do calls the module's WriteSplit by name; swapping it for the duration of one Do
    # reuses the whole of the stock executor (its body is ~60 lines of config handling we would
    # otherwise copy). Executors run one at a time in a process (local runner) or alone in their
    # own container (Kubeflow), so nothing else sees the swap.
    original = write_split.WriteSplit
    write_split.WriteSplit = _write_split_in_order
    try:
        yield
    finally:
        write_split.WriteSplit = original


class StreamingImportExecutor(import_executor.Executor):
    """ImportExampleGen's executor; splits are written in the order they are read."""

    def Do(self, input_dict, output_dict, exec_properties) -> None:
        with _without_reshuffle():
            super().Do(input_dict, output_dict, exec_properties)


class StreamingImportExampleGen(tfx.components.ImportExampleGen):
    """ImportExampleGen (same arguments, driver, outputs) running ``StreamingImportExecutor``. The
    stock component takes no executor spec, hence the subclass; ``create_pipeline`` keeps the node
    id ``ImportExampleGen``."""

    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(StreamingImportExecutor)
