"""Stops the pipeline when ExampleValidator found anomalies, with a message a person can act on.

TFX's ExampleValidator records anomalies but lets the run go on; training on data that breaks the
curated schema is how silent quality regressions start, so this gate fails the run instead and
names each feature, what is wrong, and what the schema expected.
"""


import os

# No `from __future__ import annotations` here: the TFX component decorator reads real types.

from tfx import v1 as tfx
from tfx.types import standard_artifacts


class DataAnomaliesError(ValueError):
    """Raised when the data breaks the curated schema: bad input, so ``recsys run`` shows the
    message and exits 2 as for any other bad input."""


def describe(anomalies, split: str) -> list[str]:
    """Readable lines for every anomaly in an ``Anomalies`` proto of one split."""
    lines = []
    for feature, info in sorted(anomalies.anomaly_info.items()):
        reasons = "; ".join(f"{r.short_description}: {r.description}" for r in info.reason)
        lines.append(f"{split}: feature {feature!r}: {reasons or info.description}")
    if anomalies.HasField("dataset_anomaly_info"):
        reasons = "; ".join(r.description for r in anomalies.dataset_anomaly_info.reason)
        lines.append(f"{split}: data set: {reasons}")
    return lines


def describe_anomalies(anomalies_dir: str) -> list[str]:
    """Readable lines for every anomaly in an ExampleAnomalies artifact directory."""
    from tensorflow_metadata.proto.v0 import anomalies_pb2
    from tfx.utils import io_utils

    lines = []
    for split in sorted(os.listdir(anomalies_dir)):
        path = os.path.join(anomalies_dir, split, "SchemaDiff.pb")
        if not os.path.exists(path):
            continue
        msg = anomalies_pb2.Anomalies()
        msg.ParseFromString(io_utils.read_bytes_file(path))
        lines += describe(msg, split.removeprefix("Split-"))
    return lines


def anomalies_in(serialized_examples: list[bytes], schema_file: str, split: str = "data") -> list[str]:
    """What StatisticsGen + ExampleValidator would report for these tf.Examples against the schema
    at ``schema_file``, computed in memory (the same TFX-BSL decoder and TFDV calls, without a
    Beam pipeline): for checking a sample of data, in tests and ``benchmarks/bad_data.py``."""
    import tensorflow_data_validation as tfdv
    from tensorflow_data_validation.statistics import stats_impl, stats_options
    from tfx_bsl.coders import example_coder

    batch = example_coder.ExamplesToRecordBatchDecoder().DecodeBatch(serialized_examples)
    stats = stats_impl.generate_statistics_in_memory(batch, stats_options.StatsOptions())
    return describe(tfdv.validate_statistics(stats, tfdv.load_schema_text(schema_file)), split)


def check_anomalies(anomalies_dir: str) -> None:
    lines = describe_anomalies(anomalies_dir)
    if lines:
        raise DataAnomaliesError(
            "the data does not match the curated schema; fix the data or, if the change is "
            "intended, update the schema (scripts/curate_schema.py, configs/schemas/):\n  "
            + "\n  ".join(lines))


@tfx.dsl.components.component
def AnomaliesGate(anomalies: tfx.dsl.components.InputArtifact[standard_artifacts.ExampleAnomalies]):
    """Fails if ``anomalies`` holds any anomaly."""
    check_anomalies(anomalies.uri)
