"""Golden values for DeepFM's blocks (models/fm.py, models/fields.py), derived by hand."""

import numpy as np
import pytest
import tensorflow as tf

from recsys.models.fields import FieldStack
from recsys.models.fm import DeepFMInteraction, FactorizationMachine
from recsys.models.inputs import concat_fields

# Three fields, d = 2: v1 = [1, 2], v2 = [3, -1], v3 = [0.5, 1].
V = np.array([[[1.0, 2.0], [3.0, -1.0], [0.5, 1.0]]], np.float32)


def test_fm_second_order_term_by_hand():
    # 1/2 sum_k ((sum_i v_ik)^2 - sum_i v_ik^2):
    #   sum_i v_i = [4.5, 2]      -> squared [20.25, 4]
    #   sum_i v_i^2 = [1 + 9 + 0.25, 4 + 1 + 1] = [10.25, 6]
    #   1/2 * ((20.25 - 10.25) + (4 - 6)) = 1/2 * (10 - 2) = 4
    # = the pairs: <v1,v2> + <v1,v3> + <v2,v3> = (3 - 2) + (0.5 + 2) + (1.5 - 1) = 1 + 2.5 + 0.5 = 4
    out = FactorizationMachine()(tf.constant(V))
    assert out.shape == (1, 1)
    np.testing.assert_allclose(out.numpy(), [[4.0]], rtol=1e-6)


def test_fm_is_per_example_and_zero_for_one_field():
    two = np.concatenate([V, -V])  # row 2: every vector negated, pairs unchanged -> 4 again
    np.testing.assert_allclose(FactorizationMachine()(tf.constant(two)).numpy(), [[4.0], [4.0]], rtol=1e-6)
    np.testing.assert_allclose(FactorizationMachine()(tf.constant(V[:, :1])).numpy(), [[0.0]])


def test_fm_refuses_a_flat_input():
    with pytest.raises(ValueError, match=r"expected \[B, F, d\]"):
        FactorizationMachine()(tf.zeros([2, 6]))


FIELDS = {"a": tf.constant([[1.0, 2.0]]), "b": tf.constant([[3.0, -1.0]]), "n": tf.constant([[0.5]])}


def test_field_stack_projects_only_the_other_widths():
    stack = FieldStack(2)
    stack(FIELDS)
    assert set(stack.projections) == {"n"}  # a and b are width 2 already
    stack.projections["n"].set_weights([np.array([[1.0, 2.0]], np.float32)])  # v_n = [1, 2]
    # Sorted fields a, b, n; n = 0.5 * [1, 2] = [0.5, 1] (a z-score x as x * v_n): V above.
    np.testing.assert_allclose(stack(FIELDS).numpy(), V)


def test_field_stack_error_names_what_it_expected():
    with pytest.raises(ValueError, match="dim=0"):
        FieldStack(0)


def test_deepfm_block_is_the_deep_mlp_then_the_fm_term():
    block = DeepFMInteraction(dim=2, deep_layers=(3,))
    block(FIELDS)
    block.stack.projections["n"].set_weights([np.array([[1.0, 2.0]], np.float32)])
    out = block(FIELDS).numpy()
    assert out.shape == (1, 4)
    np.testing.assert_allclose(out[:, -1], [4.0], rtol=1e-6)  # the FM term of V, as above
    np.testing.assert_allclose(out[:, :3], block.deep(concat_fields(FIELDS)).numpy(), rtol=1e-6)
