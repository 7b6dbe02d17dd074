"""The multi-task benchmark's summary: the paired per-seed gain of each ESMM over the product of
the two single-task models, and the choices made on validation."""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import pytest  # noqa: E402

from benchmarks.multitask import summarise  # noqa: E402


def test_gain_is_paired_per_seed_and_choices_are_kept():
    runs = {"click": [{"ctr_auc": 0.70}, {"ctr_auc": 0.72}],
            "single_task_product": [{"ctcvr_auc": 0.80}, {"ctcvr_auc": 0.78}],
            "esmm_embeddings": [{"ctcvr_auc": 0.81}, {"ctcvr_auc": 0.77}]}
    out = summarise(runs, {"click": 4, "esmm_embeddings": 3}, {"click": None, "esmm_embeddings": 2.0})
    gain = out["esmm_embeddings_ctcvr_gain_over_single_task_product"]
    # Seed 0: 0.81 - 0.80 = +0.01; seed 1: 0.77 - 0.78 = -0.01; mean 0.
    assert gain["runs"] == pytest.approx([0.01, -0.01])
    assert (gain["mean"], gain["min"], gain["max"]) == pytest.approx((0.0, -0.01, 0.01))
    assert out["click"]["ctr_auc"]["mean"] == pytest.approx(0.71)
    assert out["click"]["ctr_auc"]["std"] == pytest.approx(0.01)  # population std of 0.70, 0.72
    assert out["esmm_embeddings"]["ctcvr_weight_chosen_on_validation"] == 2.0
    assert "ctcvr_weight_chosen_on_validation" not in out["click"]
    assert "esmm_ctcvr_gain_over_single_task_product" not in out  # not run
