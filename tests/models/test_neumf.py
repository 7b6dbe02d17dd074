"""Golden values for NeuMF's block (models/neumf.py), derived by hand."""

import numpy as np
import pytest
import tensorflow as tf

from recsys.models.inputs import concat_fields
from recsys.models.neumf import NeuMFInteraction

FIELDS = {"user_id": tf.constant([[1.0, 2.0]]), "item_id": tf.constant([[3.0, -1.0]]),
          "genre": tf.constant([[0.5, 0.5]])}


@pytest.mark.parametrize("all_fields", [True, False])
def test_gmf_product_then_the_mlp(all_fields):
    block = NeuMFInteraction("user_id", "item_id", deep_layers=(3,), mlp_all_fields=all_fields)
    out = block(FIELDS).numpy()
    assert out.shape == (1, 2 + 3)
    # GMF: p_u * q_i = [1 * 3, 2 * -1] = [3, -2]
    np.testing.assert_allclose(out[:, :2], [[3.0, -2.0]])
    mlp_in = (concat_fields(FIELDS) if all_fields  # sorted: genre, item_id, user_id
              else tf.constant([[1.0, 2.0, 3.0, -1.0]]))  # the paper's [p_u, q_i]
    assert block.mlp.layers[0].kernel.shape[0] == (6 if all_fields else 4)
    np.testing.assert_allclose(out[:, 2:], block.mlp(mlp_in).numpy(), rtol=1e-6)


def test_unequal_widths_and_missing_fields_are_named():
    with pytest.raises(ValueError, match="user_id has width 2 and item_id 3"):
        NeuMFInteraction("user_id", "item_id")({**FIELDS, "item_id": tf.zeros([1, 3])})
    with pytest.raises(KeyError, match="'item_id'"):
        NeuMFInteraction("user_id", "item_id")({"user_id": FIELDS["user_id"]})
