"""A history of categories as a sequence in the candidate category's vocabulary (``vocab_from =
"item_category"``, the synthetic config's ``history_category``): what each ranker makes of it."""

import numpy as np
import pytest
import tensorflow as tf

from recsys.config import TrainConfig
from recsys.features import Feature, FeatureConfig
from recsys.models.factory import build_ranker

CONFIG = FeatureConfig(dataset="cats", features=(
    Feature("user_id", "categorical", side="user"),
    Feature("item_id", "categorical", side="item"),
    Feature("item_category", "categorical", side="item"),
    Feature("history", "sequence", side="user", vocab_from="item_id", max_length=3),
    Feature("history_category", "sequence", side="user", vocab_from="item_category", max_length=3,
            match_of="item_category"),
))
SIZES = {"user_id": 3, "item_id": 5, "item_category": 3, "history": 5, "history_category": 3}
I64 = lambda x: tf.constant(x, tf.int64)  # noqa: E731
BATCH = {"user_id": I64([0, 1]), "item_id": I64([1, 4]), "item_category": I64([0, 2]),
         "history": I64([[0, 2, -1], [-1, -1, -1]]), "history_category": I64([[0, 0, -1], [-1, -1, -1]]),
         "history_category_match": tf.constant([1.0, 0.0])}


def _ranker(model: str, features: FeatureConfig = CONFIG):
    return build_ranker(TrainConfig(model=model, embedding_dim=4, deep_layers=(8,)), features, SIZES)


def test_din_queries_each_history_with_the_candidate_feature_it_shares_a_vocabulary_with():
    ranker = _ranker("din")
    assert ranker.sequence_pooling.target_key == {"history": "item_id",
                                                  "history_category": "item_category"}
    assert np.isfinite(ranker(BATCH).numpy()).all()
    # The category history and the candidate's category are one table: one embedding space.
    assert ranker.embedding.table("history_category") is ranker.embedding.table("item_category")


def test_din_refuses_a_history_in_a_user_side_vocabulary():
    friends = Feature("friends", "sequence", side="user", vocab_from="user_id", max_length=2)
    config = FeatureConfig(dataset="cats", features=CONFIG.features + (friends,))
    with pytest.raises(ValueError, match=r"din: sequence 'friends' has vocab_from = 'user_id'; "
                                         r"expected the vocabulary of a candidate \(item-side\)"):
        _ranker("din", config)


def test_wide_part_memorises_the_category_history_but_not_the_item_history():
    wide = _ranker("wide_deep").wide
    assert "history_category" in wide.sizes and "history" not in wide.sizes
    assert wide.sizes["history_category"] == SIZES["item_category"]


@pytest.mark.parametrize("model", ["dcn", "deepfm"])
def test_other_rankers_mean_pool_it_with_the_match_share_beside(model):
    ranker = _ranker(model)
    vectors, sequences = ranker.embedding(BATCH)
    assert set(sequences) == {"history", "history_category"}
    assert vectors["history_category_match"].shape == (2, 1)
    pooled = ranker.sequence_pooling(sequences, vectors)["history_category"].numpy()
    table = ranker.embedding.table("item_category").embeddings.numpy()
    np.testing.assert_allclose(pooled, [table[0], np.zeros(4)], rtol=1e-6)  # [c0, c0] -> c0; empty -> 0
    assert np.isfinite(ranker(BATCH).numpy()).all()
