"""``pipeline.transform_statistics``: Transform computes its own TFDV statistics (and their
schema and anomalies artifacts) only when asked; nothing downstream reads them."""

import pytest

from recsys.config import load_config

STATISTICS_OUTPUTS = {"pre_transform_schema", "pre_transform_stats", "post_transform_schema",
                      "post_transform_stats", "post_transform_anomalies"}


@pytest.mark.parametrize("overrides, computed", [([], False), (["pipeline.transform_statistics=true"], True)])
def test_transform_computes_its_statistics_only_when_asked(pipeline_nodes, overrides, computed):
    nodes = pipeline_nodes(overrides)
    transform = nodes["Transform"]
    assert transform.exec_properties["disable_statistics"] == int(not computed)
    assert (STATISTICS_OUTPUTS <= set(transform.outputs)) == computed
    # What the Trainers and the Evaluator read is there either way.
    assert {"transform_graph", "transformed_examples"} <= set(transform.outputs)
    consumed = {channel.output_key for node in nodes.values() for channel in node.inputs.values()
                if getattr(channel, "producer_component_id", None) == "Transform"}
    assert consumed and not consumed & STATISTICS_OUTPUTS


def test_the_setting_must_be_a_bool():
    with pytest.raises(Exception, match=r"pipeline.transform_statistics.*'maybe'"):
        load_config(None, ["pipeline.transform_statistics=maybe"])
