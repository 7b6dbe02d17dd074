"""The full-catalogue softmax (``retrieval.negatives = "catalogue"``): a hand golden value, the
positive's own catalogue rows (an OOV bucket's several) left out, equality with TFRS' in-batch
Retrieval loss when the catalogue is the batch, the model's loss through it, bad settings refused."""

import dataclasses
import math

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_recommenders as tfrs

from recsys.config import load_config
from recsys.models.catalogue_loss import catalogue_softmax_loss
from recsys.models.retrieval import TwoTowerModel
from tests.models.test_query_tower_options import BATCH, FEATURES, SIZES
from tests.training.test_retrieval import TINY


def _loss(query, positive, ids, catalogue, catalogue_ids, temperature=1.0):
    return float(catalogue_softmax_loss(tf.constant(query, tf.float32), tf.constant(positive, tf.float32),
                                        tf.constant(ids), tf.constant(catalogue, tf.float32),
                                        tf.constant(catalogue_ids), temperature))


def test_golden_value():
    # One query q = [1, 0]; its positive is item 7 (embedding [1, 0]: logit 1); the catalogue holds
    # item 7 itself (left out: it is the positive), item 8 ([0, 1]: logit 0) and item 9 ([-1, 0]:
    # logit -1). CE = log(e + 1 + e^-1) - 1; at temperature 0.5 every logit doubles.
    query, positive = [[1.0, 0.0]], [[1.0, 0.0]]
    catalogue, ids = [[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]], [7, 8, 9]
    np.testing.assert_allclose(_loss(query, positive, [7], catalogue, ids),
                               math.log(math.e + 1 + math.exp(-1)) - 1, rtol=1e-6)
    np.testing.assert_allclose(_loss(query, positive, [7], catalogue, ids, temperature=0.5),
                               math.log(math.exp(2) + 1 + math.exp(-2)) - 2, rtol=1e-6)


def test_every_catalogue_row_of_the_positive_s_id_is_left_out():
    # Items beyond the vocabulary share an OOV id: both rows of id 7 leave the softmax, however
    # high they score; only item 8 remains a negative.
    query, positive = [[1.0, 0.0]], [[1.0, 0.0]]
    catalogue, ids = [[1.0, 0.0], [50.0, 0.0], [0.0, 1.0]], [7, 7, 8]
    np.testing.assert_allclose(_loss(query, positive, [7], catalogue, ids),
                               math.log(math.e + 1) - 1, rtol=1e-6)


def test_a_catalogue_that_is_the_batch_gives_tfrs_in_batch_loss():
    # Three distinct items, the catalogue exactly the batch's candidates: the full softmax is
    # TFRS' in-batch softmax (no logQ), summed over the batch alike.
    rng = np.random.default_rng(0)
    query, candidates = rng.normal(size=[3, 4]), rng.normal(size=[3, 4])
    ids = np.array([4, 2, 9])
    task = tfrs.tasks.Retrieval(temperature=0.2, metrics=None)
    expected = float(task(tf.constant(query, tf.float32), tf.constant(candidates, tf.float32),
                          compute_metrics=False))
    np.testing.assert_allclose(_loss(query, candidates, ids, candidates[::-1], ids[::-1], 0.2),
                               expected, rtol=1e-5)


def _model(**changes):
    tf.keras.utils.set_random_seed(0)
    batch = {**BATCH, "item_id": tf.constant([3, 4]), "item_price": tf.constant([[0.5], [1.5]]),
             "item_price_bucket": tf.constant([0, 1]), "item_genres": tf.constant([[0, -1], [1, 2]])}
    catalog = {"item_id": np.array([3, 4, 5]), "item_price": np.array([[0.5], [1.5], [2.5]], np.float32),
               "item_price_bucket": np.array([0, 1, 1]), "item_genres": np.array([[0, -1], [1, 2], [2, -1]])}
    config = dataclasses.replace(TINY, **{"uniform_negatives": 0, "oov_dropout": 0.0,
                                          "negatives": "catalogue", **changes})
    return TwoTowerModel(FEATURES, SIZES, config, catalog=catalog), batch, catalog


def test_the_model_s_loss_is_the_catalogue_softmax_of_its_towers():
    model, batch, catalog = _model()
    loss = float(model.compute_loss(batch, training=True))
    query = model.query_tower(batch)
    candidates = model.candidate_tower({k: batch[k] for k in model.candidate_keys})
    expected = _loss(query.numpy(), candidates.numpy(), batch["item_id"].numpy(),
                     model.candidate_tower(catalog).numpy(), catalog["item_id"], TINY.temperature)
    assert expected > 0
    np.testing.assert_allclose(loss, expected, rtol=1e-5)
    # A catalogue item's gradient reaches the candidate tower: item 5 is in no batch row.
    with tf.GradientTape() as tape:
        loss = model.compute_loss(batch, training=True)
    grads = tape.gradient(loss, model.embedding.table("item_id").embeddings)
    assert np.abs(tf.convert_to_tensor(grads).numpy()[5]).sum() > 0


def test_bad_settings_are_refused_naming_them():
    with pytest.raises(ValueError, match=r"uniform_negatives = 0 \(got 8\)"):
        _model(uniform_negatives=8)
    with pytest.raises(ValueError, match=r"retrieval.negatives = 'catalogue' scores every catalogue item"):
        TwoTowerModel(FEATURES, SIZES, dataclasses.replace(TINY, uniform_negatives=0, negatives="catalogue"))
    with pytest.raises(ValueError, match=r"retrieval.negatives.*'sampled'"):
        load_config(None, ["retrieval.negatives=sampled"])
    assert load_config(None, ["retrieval.negatives=catalogue"]).retrieval.negatives == "catalogue"
    assert load_config(None, []).retrieval.negatives == "in_batch"
