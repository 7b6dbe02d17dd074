"""The query tower's two options for the sequence encoders: ``retrieval.query_exclude`` (the user
id left out, so the history must carry the user) and ``retrieval.encoded_sequences`` (which
histories the encoder reads; the rest keep the mean); bad names are refused naming the field."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from recsys.features import Feature, FeatureConfig
from recsys.models.gru4rec import GRU4Rec
from recsys.models.retrieval import TwoTowerModel, query_features, sequence_encoders
from recsys.models.sasrec import SASRec
from tests.tiny import CONFIG
from tests.training.test_retrieval import TINY

# The tiny contract plus a second history, as MovieLens has history and history_liked.
FEATURES = FeatureConfig(dataset="t", features=CONFIG.features + (
    Feature("history_liked", "sequence", side="user", vocab_from="item_id", max_length=3),))
SIZES = {"user_id": 5, "item_id": 6, "item_price_bucket": 3, "item_genres": 3, "history": 6,
         "history_liked": 6}
BATCH = {"user_id": tf.constant([0, 1]), "history": tf.constant([[0, 1, -1], [0, 1, -1]]),
         "history_liked": tf.constant([[2, -1, -1], [2, -1, -1]])}


def _query(config):
    tf.keras.utils.set_random_seed(0)
    model = TwoTowerModel(FEATURES, SIZES, dataclasses.replace(TINY, uniform_negatives=0, **config))
    return model.query_tower(BATCH).numpy()


@pytest.mark.parametrize("encoder", ["mean", "sasrec"])
def test_without_the_user_id_two_users_with_one_history_get_one_query(encoder):
    # BATCH's two rows differ only in user_id.
    with_id = _query({"sequence_encoder": encoder})
    assert np.abs(with_id[0] - with_id[1]).max() > 1e-4
    without = _query({"sequence_encoder": encoder, "query_exclude": ("user_id",)})
    np.testing.assert_allclose(without[0], without[1], rtol=1e-5, atol=1e-6)


def test_encoded_sequences_picks_which_histories_the_encoder_reads():
    config = dataclasses.replace(TINY, sequence_encoder="sasrec")
    names = query_features(FEATURES, config)
    every = sequence_encoders(FEATURES, config, names, 4)
    assert sorted(every) == ["history", "history_liked"]
    assert all(isinstance(e, SASRec) for e in every.values())
    one = sequence_encoders(FEATURES, dataclasses.replace(config, sequence_encoder="gru",
                                                          encoded_sequences=("history",)), names, 4)
    assert list(one) == ["history"] and isinstance(one["history"], GRU4Rec)
    # The mean-pooled history_liked ignores order; the encoded history does not.
    swapped = {**BATCH, "history": tf.constant([[1, 0, -1], [1, 0, -1]])}
    liked_swapped = {**BATCH, "history_liked": tf.constant([[2, 3, -1], [2, 3, -1]])}
    liked_reordered = {**BATCH, "history_liked": tf.constant([[3, 2, -1], [3, 2, -1]])}
    tf.keras.utils.set_random_seed(0)
    model = TwoTowerModel(FEATURES, SIZES, dataclasses.replace(
        TINY, uniform_negatives=0, sequence_encoder="sasrec", encoded_sequences=("history",)))
    tower = model.query_tower
    assert np.abs(tower(swapped).numpy() - tower(BATCH).numpy()).max() > 1e-4
    np.testing.assert_allclose(tower(liked_swapped).numpy(), tower(liked_reordered).numpy(),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("field, value, message", [
    ("query_exclude", ("item_id",), "retrieval.query_exclude: 'item_id' is not a query-tower feature"),
    ("query_exclude", ("user_id", "history", "history_liked"), "leaves the query tower no feature"),
    ("encoded_sequences", ("user_id",), "retrieval.encoded_sequences: 'user_id' is not a sequence"),
])
def test_bad_names_are_refused_naming_the_field(field, value, message):
    with pytest.raises(ValueError, match=message):
        TwoTowerModel(FEATURES, SIZES, dataclasses.replace(TINY, uniform_negatives=0, **{field: value}))
