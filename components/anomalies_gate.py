"""Stops the pipeline when ExampleValidator found anomalies, with a message a person can act on.

TFX's ExampleValidator records anomalies but lets the run go on; training on data that breaks the
curated schema is how silent quality regressions start, so this gate fails the run instead and
names each feature, what is wrong, and what the schema expected.
"""


import os

# No `from __future__ import annotations` here: the TFX component decorator reads real types.

from tfx import v1 as tfx
from tfx.types import standard_artifacts


class DataAnomaliesError(RuntimeError):
    """Raised when the data breaks the curated schema."""


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
        for feature, info in sorted(msg.anomaly_info.items()):
            reasons = "; ".join(f"{r.short_description}: {r.description}" for r in info.reason)
            lines.append(f"{split.removeprefix('Split-')}: feature {feature!r}: {reasons or info.description}")
        if msg.HasField("dataset_anomaly_info"):
            reasons = "; ".join(r.description for r in msg.dataset_anomaly_info.reason)
            lines.append(f"{split.removeprefix('Split-')}: data set: {reasons}")
    return lines


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
