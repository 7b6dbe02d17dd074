"""A ``[[cross]]`` with ``embed = true`` (Transform's hashed ``cross_a_x_b`` ids) as an embedded
field of every ranker (models/inputs.py), absent without it and from a retrieval tower; the
config refuses a bad ``embed``; a ranker with the field trains, exports and serves from raw
features (Transform computes the cross, so the signatures need nothing new)."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from recsys.config import TrainConfig
from recsys.features import Feature, FeatureConfig, FeatureCross
from recsys.models.export import PREDICTION_KEYS
from recsys.models.factory import build_ranker
from recsys.models.inputs import FeatureEmbedding
from recsys.training.ranker import train_and_export
from tests import tiny

CROSS = "cross_user_id_x_item_category"
FEATURES = (Feature("user_id", "categorical", side="user"), Feature("item_id", "categorical", side="item"),
            Feature("item_category", "categorical", side="item"))
SIZES = {"user_id": 3, "item_id": 3, "item_category": 3, CROSS: 5}
INPUTS = {"user_id": tf.constant([0, 1], tf.int64), "item_id": tf.constant([1, 2], tf.int64),
          "item_category": tf.constant([0, 1], tf.int64), CROSS: tf.constant([4, 2], tf.int64)}


def _config(**cross) -> FeatureConfig:
    return FeatureConfig("t", FEATURES, crosses=(FeatureCross(("user_id", "item_category"), 5, **cross),))


def test_an_embedded_cross_is_a_field_holding_its_bucket_row():
    layer = FeatureEmbedding(_config(embed=True), SIZES, 4)
    vectors, _ = layer(INPUTS)
    table = layer.tables[CROSS].embeddings.numpy()
    assert table.shape == (5, 4)  # hash_buckets rows, the model's embedding_dim
    np.testing.assert_allclose(vectors[CROSS], table[[4, 2]])


def test_a_cross_without_embed_is_no_field_and_has_no_table():
    layer = FeatureEmbedding(_config(), SIZES, 4)
    vectors, _ = layer(INPUTS)
    assert sorted(vectors) == ["item_category", "item_id", "user_id"] and CROSS not in layer.tables


def test_a_tower_seeing_one_side_or_a_retrieval_embedding_has_no_cross():
    vectors, _ = FeatureEmbedding(_config(embed=True), SIZES, 4)(INPUTS, names=("user_id",))
    assert sorted(vectors) == ["user_id"]
    layer = FeatureEmbedding(_config(embed=True), SIZES, 4, crosses=False)
    assert CROSS not in layer(INPUTS)[0] and CROSS not in layer.tables


@pytest.mark.parametrize("model", ["dcn", "din", "deepfm", "autoint", "wide_deep"])
def test_every_ranker_reads_the_embedded_cross(model):
    """The cross's ids reach the score through its table (a different bucket, a different logit)
    only with ``embed = true``; DIN needs a behaviour sequence, so the config gets one."""
    features = FEATURES + (Feature("history", "sequence", side="user", vocab_from="item_id",
                                   max_length=2),)
    inputs = {**INPUTS, "history": tf.constant([[0, -1], [1, 2]], tf.int64)}
    moved = {**inputs, CROSS: tf.constant([3, 0], tf.int64)}
    for embed in (True, False):
        config = FeatureConfig("t", features, crosses=(FeatureCross(("user_id", "item_category"), 5,
                                                                    embed=embed),))
        ranker = build_ranker(TrainConfig(model=model, embedding_dim=4, deep_layers=(8,)), config,
                              {**SIZES, "history": 3})
        assert (CROSS in ranker.embedding.tables) == embed
        # Wide&Deep's wide part reads every cross anyway: compare the deep part's input instead.
        vectors, _ = ranker.embedding(moved)
        assert (CROSS in vectors) == embed
        if model != "wide_deep":
            changed = not np.allclose(ranker(inputs).numpy(), ranker(moved).numpy())
            assert changed == embed


@pytest.mark.parametrize("cross_l2, expected", [(None, 1e-3), (0.05, 0.05), (0.0, 0.0)])
def test_the_cross_table_takes_its_own_l2_and_the_other_tables_the_model_s(cross_l2, expected):
    """``[[cross]] l2``: the regularisation loss of the cross table alone is ``l2 * sum(row^2)``
    (Keras' L2 over the looked-up table); the id tables keep the model's ``embedding_l2``."""
    layer = FeatureEmbedding(_config(embed=True, l2=cross_l2), SIZES, 4, l2=1e-3)
    layer(INPUTS)
    by_table = {name: float(t.losses[0]) if t.losses else 0.0 for name, t in layer.tables.items()}
    for name, table in layer.tables.items():
        squares = float(np.sum(table.embeddings.numpy() ** 2))
        want = (expected if name == CROSS else 1e-3) * squares
        assert by_table[name] == pytest.approx(want, rel=1e-5), name


@pytest.mark.parametrize("l2, message", [(-0.1, "'l2' = -0.1; expected a number >= 0"),
                                         ("big", "'l2' = 'big'; expected a number >= 0"),
                                         (True, "'l2' = True; expected a number >= 0"),
                                         (float("nan"), "'l2' = nan; expected a number >= 0")])
def test_the_config_refuses_a_cross_l2_that_is_not_a_number_at_least_0(l2, message):
    with pytest.raises(ValueError, match=message):
        _config(embed=True, l2=l2)


def test_a_toml_cross_reads_its_l2(tmp_path):
    path = tmp_path / "f.toml"
    path.write_text('dataset = "t"\n'
                    '[[feature]]\nname = "user_id"\nkind = "categorical"\nside = "user"\n'
                    '[[feature]]\nname = "item_id"\nkind = "categorical"\nside = "item"\n'
                    '[[feature]]\nname = "item_category"\nkind = "categorical"\nside = "item"\n'
                    '[[cross]]\nfeatures = ["user_id", "item_category"]\nembed = true\nl2 = 0.02\n')
    assert FeatureConfig.load(str(path)).crosses[0].l2 == 0.02


@pytest.mark.parametrize("embed, message", [("yes", "'embed' = 'yes'; expected true or false"),
                                            (1, "'embed' = 1; expected true or false")])
def test_the_config_refuses_an_embed_that_is_not_a_boolean(embed, message):
    with pytest.raises(ValueError, match=message):
        _config(embed=embed)


def test_the_config_refuses_unknown_cross_fields_and_bad_buckets():
    d = {"dataset": "t", "feature": [dataclasses.asdict(f) for f in FEATURES]}
    with pytest.raises(ValueError, match=r"unknown fields \['embedded'\].*'embed'"):
        FeatureConfig.from_dict({**d, "cross": [{"features": ["user_id", "item_category"], "embedded": True}]})
    with pytest.raises(ValueError, match="'hash_buckets' = 0; expected an int >= 1"):
        FeatureConfig.from_dict({**d, "cross": [{"features": ["user_id", "item_category"], "hash_buckets": 0}]})
    loaded = FeatureConfig.from_dict({**d, "cross": [{"features": ["user_id", "item_category"],
                                                      "hash_buckets": 5, "embed": True}]})
    assert [c.name for c in loaded.embedded_crosses] == [CROSS]


def test_a_ranker_with_an_embedded_cross_exports_and_serves_from_raw_features(tmp_path):
    """The tiny Transform output already holds the cross (every ``[[cross]]`` is computed): the
    serving signature on raw tf.Examples equals the reloaded model on the transformed rows."""
    data, _, out = tiny.tiny_transform()
    config = dataclasses.replace(tiny.CONFIG, crosses=tuple(
        dataclasses.replace(c, embed=True) for c in tiny.CONFIG.crosses))
    files = tiny.write_gz(data * 10, str(tmp_path / "train.gz"))
    export_dir = str(tmp_path / "model")
    train_and_export(train_files=[files], eval_files=[files], transform_output=out._transform_output_dir,
                     serving_model_dir=export_dir, features=config,
                     train=TrainConfig(model="dcn", epochs=1, batch_size=16, embedding_dim=4,
                                       deep_layers=(8,)))
    loaded = tf.saved_model.load(export_dir)
    assert any(f"emb_{config.crosses[0].name}" in v.name for v in loaded.variables)
    raw_rows = [{k: v for k, v in r.items() if k not in config.label_keys} for r in tiny.ROWS]
    served = loaded.signatures["serving_default"](
        examples=tf.constant([tiny.to_example(r) for r in raw_rows]))[PREDICTION_KEYS["binary"]].numpy()
    direct = tf.sigmoid(tf.reshape(loaded(tiny.model_batch(data), False), [-1])).numpy()
    np.testing.assert_allclose(direct, served, rtol=1e-5, atol=1e-6)
