"""ExampleValidator findings become a readable error that names the feature and the problem."""

import os

import pandas as pd
import pytest
import tensorflow_data_validation as tfdv

from recsys.components.anomalies_gate import DataAnomaliesError, check_anomalies
from recsys.pipeline.local_runner import schema_path
from recsys.config import CONFIG_DIR
from recsys.features import FeatureConfig

FEATURES = FeatureConfig.load(os.path.join(CONFIG_DIR, "features", "synthetic.toml"))


def _write_anomalies(df: pd.DataFrame, out_dir: str) -> str:
    stats = tfdv.generate_statistics_from_dataframe(df)
    anomalies = tfdv.validate_statistics(stats, tfdv.load_schema_text(schema_path(FEATURES)))
    os.makedirs(os.path.join(out_dir, "Split-train"))
    with open(os.path.join(out_dir, "Split-train", "SchemaDiff.pb"), "wb") as fh:
        fh.write(anomalies.SerializeToString())
    return out_dir


def _good_rows(n=50):
    return pd.DataFrame({
        "example_id": [f"e{i}" for i in range(n)], "user_id": ["u1"] * n, "item_id": ["i1"] * n,
        "timestamp": [1_700_000_000] * n, "label": [0, 1] * (n // 2), "purchase": [0] * n,
        "user_age": [30] * n, "user_gender": ["F"] * n, "user_region": ["r01"] * n,
        "item_category": ["c01"] * n, "item_brand": ["b001"] * n, "item_price": [9.99] * n,
        "item_listed": [1_699_000_000] * n, "item_ctr": [0.15] * n,
        # count slices: data/prepare.py writes them into every example, the schema requires them
        "user_activity": ["heavy"] * n, "item_popularity": ["head"] * n,
    })


def test_unknown_category_value_stops_the_run_naming_the_feature(tmp_path):
    df = _good_rows()
    df.loc[3, "user_gender"] = "X"
    with pytest.raises(DataAnomaliesError) as e:
        check_anomalies(_write_anomalies(df, str(tmp_path)))
    assert "'user_gender'" in str(e.value) and "train" in str(e.value)


def test_out_of_range_price_is_reported(tmp_path):
    df = _good_rows()
    df.loc[0, "item_price"] = -5.0
    with pytest.raises(DataAnomaliesError, match="'item_price'"):
        check_anomalies(_write_anomalies(df, str(tmp_path)))


def test_clean_data_passes(tmp_path):
    df = _good_rows()
    # history is multi-valued; dataframes carry lists as objects, which TFDV reads as lists.
    check_anomalies(_write_anomalies(df.assign(history=[["i1"]] * len(df),
                                                  history_category=[["c01"]] * len(df)), str(tmp_path)))
