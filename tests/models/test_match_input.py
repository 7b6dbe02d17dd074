"""The ``match_of`` share (Transform's ``<name>_match``) as a model input (models/inputs.py): a
[B, 1] field of every ranker, absent from a retrieval tower that sees only one of the two sides."""

import numpy as np
import tensorflow as tf

from recsys.features import Feature, FeatureConfig
from recsys.models.inputs import FeatureEmbedding

CONFIG = FeatureConfig("t", (
    Feature("user_id", "categorical", side="user"), Feature("item_id", "categorical", side="item"),
    Feature("item_category", "categorical", side="item"),
    Feature("history_category", "multi_categorical", side="user", max_length=2,
            match_of="item_category")))
SIZES = {"user_id": 3, "item_id": 3, "item_category": 3, "history_category": 3}
INPUTS = {"user_id": tf.constant([0, 1], tf.int64), "item_id": tf.constant([1, 2], tf.int64),
          "item_category": tf.constant([0, 1], tf.int64),
          "history_category": tf.constant([[0, 1], [-1, -1]], tf.int64),
          "history_category_match": tf.constant([0.5, 0.0])}


def test_a_ranker_reads_the_share_as_a_one_wide_field():
    vectors, _ = FeatureEmbedding(CONFIG, SIZES, 4)(INPUTS)
    np.testing.assert_allclose(vectors["history_category_match"], [[0.5], [0.0]])
    assert vectors["history_category"].shape == (2, 4)  # the pooled embedding stays


def test_a_tower_with_one_side_only_has_no_share():
    vectors, _ = FeatureEmbedding(CONFIG, SIZES, 4)(INPUTS, names=("user_id", "history_category"))
    assert sorted(vectors) == ["history_category", "user_id"]
