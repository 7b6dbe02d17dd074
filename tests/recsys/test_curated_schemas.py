"""The shipped ml-latest schema is what ``scripts/curate_schema.py movielens_latest --fixture``
writes: drafted from a made-up fixture (types and shapes only) and curated in code, never from the
data it checks. A hand edit of the file, or a change to the curation that was not re-run, fails."""

import importlib.util
import os

from google.protobuf import text_format

from recsys.config import REPO_ROOT, load_config, schema_path
from recsys.data import movielens_fixture
from recsys.data.prepare import prepare_data
from recsys.features import FeatureConfig


def _curate_script():
    spec = importlib.util.spec_from_file_location(
        "curate_schema", os.path.join(REPO_ROOT, "scripts", "curate_schema.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_movielens_latest_schema_is_the_curation_of_the_fixture(tmp_path):
    import tensorflow as tf
    import tensorflow_data_validation as tfdv
    from tensorflow_data_validation.statistics import stats_impl, stats_options
    from tfx_bsl.coders import example_coder

    curate = _curate_script()
    source = movielens_fixture.write(str(tmp_path / "fixture"), "ml-latest")
    cfg = load_config(None, ["data.dataset=movielens_latest", f"data.source={source}",
                             f"pipeline.output_dir={tmp_path}"])
    features = FeatureConfig.load(cfg.features_path)
    root = prepare_data(cfg, features=features)
    examples = [r.numpy() for r in tf.data.TFRecordDataset(
        tf.io.gfile.glob(os.path.join(root, "data", "*")), compression_type="GZIP")]
    # In memory rather than the script's Beam pipeline: the same statistics generators.
    stats = stats_impl.generate_statistics_in_memory(
        example_coder.ExamplesToRecordBatchDecoder().DecodeBatch(examples), stats_options.StatsOptions())
    curated = curate.curate(tfdv.infer_schema(stats, infer_feature_shape=True), features)
    shipped = tfdv.load_schema_text(schema_path("movielens_latest"))
    assert text_format.MessageToString(curated) == text_format.MessageToString(shipped)
    genres = {d.name: list(d.value) for d in shipped.string_domain}["item_genres"]
    assert "Drama" in genres and "IMAX" in genres  # closed by the layout's definition
