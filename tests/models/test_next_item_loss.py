"""SASRec's all-positions next-item loss: a hand-derived golden value, logQ against an independent
numpy re-computation, padding and position 0 contributing nothing, weight 0 giving exactly the
Retrieval loss, a negative weight refused naming the key."""

import dataclasses
import math

import numpy as np
import pytest
import tensorflow as tf

from recsys.config import load_config
from recsys.models.next_item_loss import all_positions_loss
from recsys.models.retrieval import TwoTowerModel
from tests.models.test_query_tower_options import BATCH, FEATURES, SIZES
from tests.training.test_retrieval import TINY

# B = 2, L = 3, d = 2; most recent first. Row 0: items [0, 1, 2]; row 1: [1, 0, pad].
# Targets: (0, 1) -> item 0, (0, 2) -> item 1, (1, 1) -> item 1; N = 3, distinct {0, 1}.
IDS = np.array([[0, 1, 2], [1, 0, -1]], np.int64)
MASK = IDS >= 0
TABLE = np.array([[1.0, 0.0], [0.0, 1.0], [5.0, 5.0]], np.float32)  # item 2 is never a target
OUTPUTS = np.array([[[9.0, 9.0], [1.0, 0.0], [0.0, 1.0]],    # position 0: the main loss' job
                    [[9.0, 9.0], [1.0, 1.0], [7.0, -7.0]]], np.float32)  # position 2: padding


def _loss(outputs=OUTPUTS, ids=IDS, q=None):
    return float(all_positions_loss(tf.constant(outputs), tf.constant(ids >= 0), tf.constant(ids),
                                    tf.constant(TABLE), None if q is None else tf.constant(q)))


def test_golden_value_without_logq():
    # Columns [item 0, item 1]. (0, 1): logits [1, 0], target 0 -> log(1 + e^-1); (0, 2): [0, 1],
    # target 1 -> log(1 + e^-1); (1, 1): [1, 1], target 1 -> log 2 (item 1 is the target of two
    # positions but one column: no accidental hit). Mean over the 3 positions, times B = 2.
    expected = 2 * (2 * math.log(1 + math.exp(-1)) + math.log(2)) / 3
    np.testing.assert_allclose(_loss(), expected, rtol=1e-6)


def test_logq_subtracts_the_log_of_each_item_being_among_the_targets():
    q = np.array([0.5, 0.25, 0.25], np.float32)
    # Independent re-computation: item j is among N = 3 draws with probability 1 - (1 - q_j)^3.
    logits = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]) - np.log(1 - (1 - q[:2]) ** 3)
    labels = [0, 1, 1]
    ce = [np.log(np.exp(row).sum()) - row[t] for row, t in zip(logits, labels)]
    np.testing.assert_allclose(_loss(q=q), 2 * np.mean(ce), rtol=1e-5)
    assert abs(_loss(q=q) - _loss()) > 1e-3


def test_padding_and_position_0_contribute_nothing():
    garbage = OUTPUTS.copy()
    garbage[:, 0] = [[-3.0, 4.0], [2.0, -8.0]]  # position 0's output: not this loss' query
    garbage[1, 2] = [100.0, -100.0]  # a padded position
    np.testing.assert_allclose(_loss(garbage), _loss(), rtol=1e-6)
    padded_target = IDS.copy()
    padded_target[1, 2] = -7  # another pad value: still no target, no query
    np.testing.assert_allclose(_loss(ids=padded_target), _loss(), rtol=1e-6)
    # A longer padded tail changes nothing either.
    longer = np.concatenate([OUTPUTS, np.full([2, 2, 2], 3.0, np.float32)], axis=1)
    longer_ids = np.concatenate([IDS, np.full([2, 2], -1)], axis=1)
    np.testing.assert_allclose(_loss(longer, longer_ids), _loss(), rtol=1e-6)


def test_no_valid_position_gives_zero():
    ids = np.array([[0, -1, -1], [1, -1, -1]])
    assert _loss(ids=ids) == 0.0


def _model(weight):
    tf.keras.utils.set_random_seed(0)
    config = dataclasses.replace(TINY, uniform_negatives=0, sequence_encoder="sasrec",
                                 sasrec=dataclasses.replace(TINY.sasrec, all_positions_weight=weight))
    batch = {**BATCH, "item_id": tf.constant([3, 4]), "item_price": tf.constant([[0.5], [1.5]]),
             "item_price_bucket": tf.constant([0, 1]), "item_genres": tf.constant([[0, -1], [1, 2]]),
             "history": tf.constant([[0, 1, 2], [2, 1, -1]])}
    q = np.full(SIZES["item_id"], 1 / SIZES["item_id"], np.float32)
    return TwoTowerModel(FEATURES, SIZES, config, item_probability=q), batch


def test_weight_0_is_exactly_the_retrieval_loss_and_w_adds_w_times_the_loss():
    plain, batch = _model(0.0)
    assert plain.all_positions == ()
    base = float(plain.compute_loss(batch))
    weighted, _ = _model(2.0)
    assert weighted.all_positions == ("history", "history_liked")
    loss = float(weighted.compute_loss(batch))
    # Same seed, same weights: the difference is 2 x the loss of each SASRec history's positions.
    tower = weighted.query_tower
    _, positions = tower(batch, positions=weighted.all_positions)
    table = weighted.embedding.table("history").embeddings
    aux = sum(float(all_positions_loss(positions[n], batch[n] >= 0, batch[n], table,
                                       weighted.item_probability)) for n in weighted.all_positions)
    assert aux > 0
    np.testing.assert_allclose(loss, base + 2.0 * aux, rtol=1e-5)
    # No new variable: the export (the towers' default call) is the weight-0 model's.
    assert [v.shape for v in weighted.trainable_variables] == [v.shape for v in plain.trainable_variables]
    np.testing.assert_array_equal(tower(batch).numpy(), plain.query_tower(batch).numpy())


def test_a_negative_weight_is_refused_naming_the_key():
    with pytest.raises(ValueError, match=r"retrieval.sasrec.all_positions_weight: '-1'; expected a number >= 0"):
        load_config(None, ["retrieval.sasrec.all_positions_weight=-1"])
    assert load_config(None, ["retrieval.sasrec.all_positions_weight=0.5"]).retrieval.sasrec.all_positions_weight == 0.5
