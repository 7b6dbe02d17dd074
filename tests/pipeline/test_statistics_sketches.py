"""``pipeline.statistics_sketches``: StatisticsGen counts top-k values and uniques with TFDV's
bounded sketches (the default), and the data validation that reads those statistics still catches
an unexpected value of a small categorical feature."""

import apache_beam as beam
import pyarrow as pa
import pytest
import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import schema_pb2



@pytest.mark.parametrize("overrides, sketches", [([], True), (["pipeline.statistics_sketches=false"], False)])
def test_statistics_gen_gets_the_setting(pipeline_nodes, overrides, sketches):
    node = pipeline_nodes(overrides)["StatisticsGen"]
    options = tfdv.StatsOptions.from_json(node.exec_properties["stats_options_json"])
    assert options.use_sketch_based_topk_uniques is sketches


def _statistics(values: list[str], sketches: bool, out: str):
    """StatisticsGen's Beam graph (``tfdv.GenerateStatistics``) over one string feature."""
    batches = [pa.RecordBatch.from_arrays([pa.array([[v] for v in values[i:i + 100]])], ["event"])
               for i in range(0, len(values), 100)]
    with beam.Pipeline() as p:
        _ = (p | beam.Create(batches)
             | tfdv.GenerateStatistics(tfdv.StatsOptions(use_sketch_based_topk_uniques=sketches))
             | tfdv.WriteStatisticsToBinaryFile(out))
    return tfdv.load_stats_binary(out)


@pytest.mark.parametrize("sketches", [True, False])
def test_sketched_statistics_keep_small_domains_exact_and_flag_unknown_values(tmp_path, sketches):
    values = ["view"] * 700 + ["click"] * 250 + ["purchase"] * 49 + ["refund"]
    stats = _statistics(values, sketches, str(tmp_path / "stats.pb"))
    feature = stats.datasets[0].features[0]
    assert feature.string_stats.unique == 4
    assert {v.value: v.frequency for v in feature.string_stats.top_values} == {
        "view": 700, "click": 250, "purchase": 49, "refund": 1}

    schema = schema_pb2.Schema()
    schema.string_domain.add(name="event", value=["view", "click", "purchase"])
    f = schema.feature.add(name="event", type=schema_pb2.BYTES, domain="event")
    f.presence.min_fraction = 1.0
    anomalies = tfdv.validate_statistics(stats, schema)
    assert "event" in anomalies.anomaly_info
    assert "refund" in anomalies.anomaly_info["event"].description
