"""Session-based retrieval (``retrieval.query = "session"``): the query tower reads only the
request's context-side features (the current session's items), never the user's id, attributes or
history; it trains and exports through the same retriever code, and its signatures take only
those features (an anonymous request)."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from recsys.features import Feature, FeatureConfig
from recsys.models.retrieval import TwoTowerModel, query_features, request_features
from recsys.training.retriever import train_and_export
from tests.tiny import CONFIG, ROWS, analyze_and_transform, to_example, write_gz
from tests.training.test_retrieval import TINY

SESSION = dataclasses.replace(TINY, query="session", uniform_negatives=0)
FEATURES = FeatureConfig(dataset="tiny_sessions", features=CONFIG.features + (
    Feature("session_history", "sequence", side="context", vocab_from="item_id", max_length=3),),
    rating=CONFIG.rating)
SIZES = {"user_id": 5, "item_id": 6, "item_price_bucket": 3, "item_genres": 3, "history": 6,
         "session_history": 6}


def test_session_mode_reads_only_the_sessions_items():
    assert query_features(FEATURES, SESSION) == ("session_history",)
    assert request_features(FEATURES, dataclasses.replace(SESSION, query="user")) == (
        "user_id", "history", "session_history")
    tf.keras.utils.set_random_seed(0)
    tower = TwoTowerModel(FEATURES, SIZES, SESSION).query_tower
    # Rows 0 and 1: other users, other histories, one session; row 2: another session.
    q = tower({"user_id": tf.constant([0, 1, 0]), "history": tf.constant([[0, -1, -1], [2, 3, 1], [0, -1, -1]]),
               "session_history": tf.constant([[1, 2, -1], [1, 2, -1], [3, -1, -1]])}).numpy()
    np.testing.assert_allclose(q[0], q[1], rtol=1e-5, atol=1e-6)
    assert np.abs(q[0] - q[2]).max() > 1e-4


def test_session_mode_without_a_session_sequence_is_refused():
    with pytest.raises(ValueError, match=r"retrieval.query = 'session'.*'tiny' has no context-side "
                                         r"sequence feature"):
        query_features(CONFIG, SESSION)


@pytest.mark.e2e  # Beam Transform of 6 rows, two epochs, the export and its warmup: ~25 s idle
def test_session_retriever_trains_exports_and_serves_an_anonymous_request(tmp_path):
    rows = [dict(r, session_history=r["history"][:2]) for r in ROWS]
    data, _, out = analyze_and_transform(rows, FEATURES)
    train = write_gz(data[:5], str(tmp_path / "train.gz"))
    eval_ = write_gz(data[5:], str(tmp_path / "eval.gz"))
    path = str(tmp_path / "session_index")
    result = train_and_export(train_files=[train], eval_files=[eval_],
                              transform_output=out._transform_output_dir, serving_model_dir=path,
                              features=FEATURES, config=dataclasses.replace(SESSION, sequence_encoder="gru"))
    assert result["catalog_size"] == 3 and np.isfinite(result["train_loss"][-1])
    loaded = tf.saved_model.load(path)
    raw_inputs = set(loaded.signatures["serving_raw"].structured_input_signature[1])
    assert raw_inputs == {"session_history", "exclude"}  # no user field in the request
    # An anonymous request: the session's items only; the user's fields, if sent, change nothing.
    served = loaded.signatures["serving_exclude"](
        examples=tf.constant([to_example(dict(session_history=["a", "b"])),
                              to_example(dict(user_id="u2", history=["c"], session_history=["a", "b"]))]),
        exclude=tf.constant([["a"], ["a"]]))
    ids = served["item_ids"].numpy()
    assert sorted(i.decode() for i in ids[0]) == ["", "b", "c"]  # 3 items, "a" excluded: padded
    np.testing.assert_array_equal(ids[0], ids[1])
    np.testing.assert_allclose(served["scores"].numpy()[0], served["scores"].numpy()[1], rtol=1e-6)
