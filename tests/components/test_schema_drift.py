"""Drift against the curated schemas, for every reader: what each reader prepares passes its
schema, and a category explosion, a missing feature and out-of-range numbers (timestamps in
milliseconds) are each reported naming the feature and the problem: ExampleValidator's findings,
computed in memory by ``anomalies_in``; the AnomaliesGate turns them into the error that stops a
run before Transform. The cases are the ones ``benchmarks/bad_data.py`` counts."""

import pytest

from benchmarks.bad_data import DRIFT_FEATURES, DRIFTS, drift_anomalies, drifted, prepared

EXPECTED = {"category explosion": "Unexpected string values", "missing feature": "Column dropped",
            "timestamps in milliseconds": "Out-of-range values"}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return {reader: prepared(reader, str(tmp_path_factory.mktemp(reader))) for reader in DRIFT_FEATURES}


@pytest.mark.parametrize("reader", DRIFT_FEATURES)
def test_what_each_reader_prepares_passes_its_curated_schema(data, reader):
    records, schema = data[reader]
    assert len(records) > 100
    assert drift_anomalies(records, schema) == []


@pytest.mark.parametrize("drift", DRIFTS)
@pytest.mark.parametrize("reader", DRIFT_FEATURES)
def test_drift_is_reported_naming_the_feature_and_the_problem(data, reader, drift):
    records, schema = data[reader]
    feature, bad = drifted(drift, reader, records)
    (line,) = drift_anomalies(bad, schema)
    assert line.startswith(f"data: feature {feature!r}: {EXPECTED[drift]}"), line
