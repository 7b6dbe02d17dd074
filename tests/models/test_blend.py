"""The ranker + KNNBaseline blend (models/blend.py, TrainConfig.neighbourhood_blend): it starts as
the ranker, fitting moves only the blend weights, the held-out slice is disjoint from the rest,
and the Trainer refuses what it cannot blend."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft

from recsys.training.ranker import _records, make_dataset, train_and_export
from recsys.models import neighbourhood
from recsys.models.blend import BlendedRanker
from recsys.models.factory import build_ranker
from recsys.models.neighbourhood import Neighbourhood
from recsys.models.ranking import make_task
from recsys.config import BlendConfig, TrainConfig
from tests.models.test_models import _batch, tiny  # noqa: F401  (the fixture)
from tests.tiny import CONFIG, write_gz

TRAIN = TrainConfig(embedding_dim=4, deep_layers=(8,), batch_size=8)


def _blend(data, out, **kwargs):
    sizes = CONFIG.vocabulary_sizes(out)
    ranker = build_ranker(TRAIN, CONFIG, sizes)
    users = np.array([r["user_id"] for r in data])
    items = np.array([r["item_id"] for r in data])
    ratings = np.array([r["rating"] for r in data])
    tables = neighbourhood.fit(users, items, ratings, sizes["user_id"], sizes["item_id"])
    return ranker, BlendedRanker(ranker, Neighbourhood(tables, "user_id", "item_id"),
                                 make_task("binary"), **kwargs)


def test_blend_starts_as_the_ranker(tiny):  # noqa: F811
    data, out = tiny
    ranker, blend = _blend(data, out)
    batch = _batch(data)
    np.testing.assert_allclose(blend(batch).numpy(), ranker(batch).numpy(), rtol=1e-6)
    assert blend.neighbourhood(batch).shape == (len(data), 3)


def test_fitting_the_blend_moves_only_its_weights(tiny):  # noqa: F811
    data, out = tiny
    ranker, blend = _blend(data, out)
    batch = _batch(data)
    labels = tf.constant([[r["label"]] for r in data], tf.float32)
    before = float(blend.task(labels=labels, predictions=blend(batch), compute_metrics=False))
    frozen = [w.numpy().copy() for w in ranker.weights + blend.neighbourhood.weights]
    blend.fit_blend([(batch, labels)], steps=200)
    after = float(blend.task(labels=labels, predictions=blend(batch), compute_metrics=False))
    assert after < before
    for old, w in zip(frozen, ranker.weights + blend.neighbourhood.weights):
        np.testing.assert_array_equal(old, w.numpy())
    assert not np.allclose(blend.blend.get_weights()[0].ravel(), [1, 0, 0, 0])


def test_held_out_slice_and_the_rest_partition_the_records(tiny, tmp_path):  # noqa: F811
    data, out = tiny
    files = write_gz(data * 5, str(tmp_path / "t.gz"))  # 30 records
    every = [bytes(x) for x in _records([files]).as_numpy_iterator()]
    held = [bytes(x) for x in _records([files], (4, True)).as_numpy_iterator()]
    rest = [bytes(x) for x in _records([files], (4, False)).as_numpy_iterator()]
    assert held == every[::4] and len(held) == 8
    assert sorted(held + rest) == sorted(every) and len(rest) == 22
    tft_out = tft.TFTransformOutput(out._transform_output_dir)
    ds = make_dataset([files], tft_out, CONFIG, TRAIN, training=False, holdout=(4, True))
    assert sum(int(tf.shape(y)[0]) for _, y in ds) == 8


def test_trainer_reports_the_blend_weights_and_refuses_bad_settings(tiny, tmp_path):  # noqa: F811
    data, out = tiny
    files = write_gz(data * 10, str(tmp_path / "t.gz"))
    args = dict(train_files=[files], eval_files=[files], transform_output=out._transform_output_dir,
                serving_model_dir=str(tmp_path / "m"), features=CONFIG)
    train = dataclasses.replace(TRAIN, epochs=1, neighbourhood_blend=True,
                                blend=BlendConfig(steps=20))
    result = train_and_export(train=train, **args)
    assert set(result["blend_weights"]) == {"ranker", "baseline", "item_knn", "user_knn", "bias"}
    assert set(result["eval"]) >= {"auc", "logloss"} and "rmse" not in result["eval"]
    with pytest.raises(ValueError, match=r"train.blend.holdout_every=1; expected >= 2"):
        train_and_export(train=dataclasses.replace(train, blend=BlendConfig(holdout_every=1)), **args)
    with pytest.raises(ValueError, match=r"train.blend.neighbours=0; expected >= 1"):
        train_and_export(train=dataclasses.replace(train, blend=BlendConfig(neighbours=0)), **args)
    no_rating = dataclasses.replace(CONFIG, rating=None)
    with pytest.raises(ValueError, match="neighbourhood_blend needs ratings; data set 'tiny' has none"):
        train_and_export(train=train, **{**args, "features": no_rating})
