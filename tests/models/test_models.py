"""Rankers score each example from its own features, train through the Trainer module, and save
-> load -> same predictions."""

import os

import numpy as np
import pytest
import tensorflow as tf

from recsys.training.ranker import train_and_export
from recsys.models.export import PREDICTION_KEYS, SLICE_SIGNATURE
from recsys.models.factory import build_ranker
from recsys.training.optimizers import build_optimizer, learning_rate
from recsys.config import BlendConfig, TrainConfig, WideDeepConfig
from tests.tiny import CONFIG, ROWS, model_batch, tiny_transform, call_like_tf_serving, to_example, write_gz

LABELS = set(CONFIG.label_keys)
MODELS = ["dcn", "wide_deep", "din", "deepfm", "autoint", "neumf"]


@pytest.fixture(scope="module")
def tiny():
    data, _, out = tiny_transform()
    return data, out


def _batch(rows):
    return model_batch(rows)


@pytest.mark.parametrize("model", MODELS)
def test_ranker_scores_each_example_from_its_own_features(tiny, model):
    """One float32 logit per example, from that example alone: the batch's logits equal the
    examples scored one at a time (nothing mixes rows: a transposed reshape, a pooling or a
    normalisation over the batch axis at inference would), and they differ between examples
    (the features reach the score)."""
    data, out = tiny
    ranker = build_ranker(TrainConfig(model=model, embedding_dim=4, deep_layers=(8,)), CONFIG,
                          CONFIG.vocabulary_sizes(out))
    logits = ranker(_batch(data))
    assert logits.shape == (len(data), 1) and logits.dtype == tf.float32
    one_at_a_time = np.concatenate([ranker(_batch([row])).numpy() for row in data])
    np.testing.assert_allclose(logits.numpy(), one_at_a_time, rtol=1e-5, atol=1e-6)
    assert len(np.unique(logits.numpy().round(6))) > 1


def test_embedding_l2_penalises_every_table(tiny):
    data, out = tiny
    sizes = CONFIG.vocabulary_sizes(out)
    plain = build_ranker(TrainConfig(embedding_dim=4, deep_layers=(8,)), CONFIG, sizes)
    plain(_batch(data))
    assert plain.losses == []
    model = build_ranker(TrainConfig(embedding_dim=4, deep_layers=(8,), embedding_l2=0.5), CONFIG, sizes)
    model(_batch(data))
    tables = [v for v in model.embedding.trainable_variables if "emb_" in v.name]
    expected = sum(0.5 * float(tf.reduce_sum(tf.square(t))) for t in tables)
    assert len(tables) == len(model.losses) > 0
    np.testing.assert_allclose(float(tf.add_n(model.losses)), expected, rtol=1e-5)


@pytest.mark.parametrize("model", MODELS)
def test_id_bias_adds_user_and_item_bias_to_the_logit(tiny, model):
    data, out = tiny
    sizes = CONFIG.vocabulary_sizes(out)
    ranker = build_ranker(TrainConfig(model=model, embedding_dim=4, deep_layers=(8,), id_bias=True,
                                      id_bias_l2=0.5), CONFIG, sizes)
    batch = _batch(data)
    before = ranker(batch).numpy()  # the biases start at 0
    users = np.arange(sizes["user_id"], dtype=np.float32)[:, None]  # b_u[i] = i
    items = 10 * np.arange(sizes["item_id"], dtype=np.float32)[:, None]  # b_i[j] = 10 j
    ranker.bias.tables["user_id"].set_weights([users])
    ranker.bias.tables["item_id"].set_weights([items])
    ranker.bias.bias.assign([0.25])
    # Row r: logit_without_bias + 0.25 + user_id[r] + 10 * item_id[r] (ids from Transform).
    expected = before + 0.25 + batch["user_id"].numpy()[:, None] + 10.0 * batch["item_id"].numpy()[:, None]
    np.testing.assert_allclose(ranker(batch).numpy(), expected, rtol=1e-5, atol=1e-5)
    # L2 on the two tables: 0.5 * (sum b_u^2 + sum b_i^2).
    bias_losses = [float(x) for x in ranker.bias.losses]
    np.testing.assert_allclose(sum(bias_losses), 0.5 * (np.sum(users ** 2) + np.sum(items ** 2)), rtol=1e-5)
    assert build_ranker(TrainConfig(model=model, embedding_dim=4, deep_layers=(8,)), CONFIG, sizes).bias is None


@pytest.mark.parametrize("label_mode,extra", [
    ("regression", dict(model="wide_deep", id_bias=True, id_bias_l2=1e-4, lr_schedule="cosine")),
    ("binary", dict(model="dcn", aux_weight=0.5)),
    ("regression", dict(model="din", aux_weight=0.5)),
    ("binary", dict(model="wide_deep", ema_momentum=0.5)),  # EMA through the composite optimizer
    ("binary", dict(model="dcn", aux_weight=0.5, neighbourhood_blend=True, blend=BlendConfig(steps=20))),
    ("regression", dict(model="din", neighbourhood_blend=True,
                        blend=BlendConfig(holdout_every=3, steps=20)))])
def test_new_options_train_export_and_reload_identically(tiny, tmp_path, label_mode, extra):
    data, out = tiny
    files = write_gz(data * 10, str(tmp_path / "train.gz"))
    train = TrainConfig(label_mode=label_mode, epochs=2, batch_size=16, embedding_dim=4,
                        deep_layers=(8,), **extra)
    export_dir = str(tmp_path / "model")
    result = train_and_export(train_files=[files], eval_files=[files],
                              transform_output=out._transform_output_dir,
                              serving_model_dir=export_dir, features=CONFIG, train=train)
    if train.aux_weight and not train.neighbourhood_blend:  # the auxiliary head is evaluated too
        assert {"auc", "rmse"} <= set(result["eval"])  # (a blend reports the blended head only)
    loaded = tf.saved_model.load(export_dir)
    raw_rows = [{k: v for k, v in r.items() if k not in LABELS} for r in ROWS]
    served = loaded.signatures["serving_default"](
        examples=tf.constant([to_example(r) for r in raw_rows]))[PREDICTION_KEYS[label_mode]].numpy()
    direct = tf.reshape(loaded(_batch(data), False), [-1])
    direct = tf.sigmoid(direct) if label_mode == "binary" else direct
    np.testing.assert_allclose(direct.numpy(), served, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("label_mode", ["binary", "regression"])
def test_aux_loss_adds_the_other_label_weighted(tiny, label_mode):
    data, out = tiny
    sizes = CONFIG.vocabulary_sizes(out)
    ranker = build_ranker(TrainConfig(embedding_dim=4, deep_layers=(8,), aux_weight=0.5,
                                      label_mode=label_mode), CONFIG, sizes)
    batch = _batch(data)
    keys = ("label", "rating") if label_mode == "binary" else ("rating", "label")
    labels = tf.constant([[r[keys[0]], r[keys[1]]] for r in data], tf.float32)
    loss = float(ranker.compute_loss((batch, labels)))
    logits, hidden = ranker(batch, training=False, return_hidden=True)
    bce = tf.keras.losses.BinaryCrossentropy(from_logits=True)
    mse = tf.keras.losses.MeanSquaredError()
    aux = ranker.aux_head(hidden)
    if label_mode == "binary":  # BCE(label, logit) + 0.5 MSE(rating, aux)
        expected = float(bce(labels[:, :1], logits)) + 0.5 * float(mse(labels[:, 1:], aux))
    else:  # MSE(rating, logit) + 0.5 BCE(label, aux)
        expected = float(mse(labels[:, :1], logits)) + 0.5 * float(bce(labels[:, 1:], aux))
    np.testing.assert_allclose(loss, expected, rtol=1e-5)
    assert build_ranker(TrainConfig(embedding_dim=4, deep_layers=(8,)), CONFIG, sizes).aux_head is None


def test_cosine_schedule_decays_adam_to_zero_over_all_epochs():
    assert learning_rate(TrainConfig(learning_rate=0.01)) == 0.01
    train = TrainConfig(learning_rate=0.01, lr_schedule="cosine", epochs=4)
    lr = learning_rate(train, steps_per_epoch=5)  # 20 steps: 0.01 * (1 + cos(pi * step / 20)) / 2
    np.testing.assert_allclose([float(lr(s)) for s in (0, 10, 20)], [0.01, 0.005, 0.0], atol=1e-7)
    with pytest.raises(ValueError, match="steps per epoch"):
        learning_rate(train)
    with pytest.raises(ValueError, match="lr_schedule='step'"):
        learning_rate(TrainConfig(lr_schedule="step"), 5)


def test_unknown_model_name_lists_choices():
    with pytest.raises(ValueError, match=r"train.model='dlrm'; expected one of \['autoint', 'dcn', 'deepfm', 'din', 'neumf', 'wide_deep'\]"):
        build_ranker(TrainConfig(model="dlrm"), CONFIG, {})


def test_regression_mode_needs_a_rating():
    cfg = CONFIG.__class__(**{**CONFIG.__dict__, "rating": None})
    with pytest.raises(ValueError, match="needs a rating"):
        build_ranker(TrainConfig(label_mode="regression"), cfg, {})


# The newer rankers share the head and the export with the first three, so binary covers each
# model's blocks through the Trainer and one regression case the other head; e2e-marked (each is
# 10-30 s of training and export) to keep the quick suite quick.
TRAINER_CASES = ([(m, mode) for m in ("dcn", "wide_deep", "din") for mode in ("binary", "regression")]
                 + [pytest.param(m, mode, marks=pytest.mark.e2e) for m, mode in (
                     ("deepfm", "binary"), ("autoint", "binary"), ("neumf", "binary"),
                     ("deepfm", "regression"))])


@pytest.mark.parametrize("model,label_mode", TRAINER_CASES)
def test_trainer_trains_exports_and_reloads_identically(tiny, tmp_path, model, label_mode):
    data, out = tiny
    files = write_gz(data * 20, str(tmp_path / "train.gz"))
    train = TrainConfig(model=model, label_mode=label_mode, epochs=4, batch_size=16, embedding_dim=4,
                        deep_layers=(8,), learning_rate=0.01,
                        wide_deep=WideDeepConfig(wide_learning_rate=0.1))
    export_dir = str(tmp_path / "model")
    result = train_and_export(train_files=[files], eval_files=[files], transform_output=out._transform_output_dir,
                              serving_model_dir=export_dir, features=CONFIG, train=train)
    losses = result["train_loss"]
    assert losses[-1] < losses[0]  # it learns
    assert result["train_examples_per_epoch"] == len(data) * 20

    loaded = tf.saved_model.load(export_dir)
    assert set(loaded.signatures) == {"serving_default", "serving_raw", "transform_features",
                                      "evaluation_slices"}
    key = PREDICTION_KEYS[label_mode]
    raw_rows = [{k: v for k, v in r.items() if k not in LABELS} for r in ROWS]
    served = loaded.signatures["serving_default"](
        examples=tf.constant([to_example(r) for r in raw_rows]))[key].numpy()
    assert served.shape == (len(ROWS),)
    labels = np.array([r["label" if label_mode == "binary" else "rating"] for r in ROWS])
    if label_mode == "binary":  # trained 40 passes over these rows: it must rank them right
        assert ((served >= 0) & (served <= 1)).all()
        assert served[labels == 1].min() > served[labels == 0].max()
    else:
        assert np.corrcoef(served, labels)[0, 1] > 0.5

    # serving_raw: JSON-friendly inputs, multi-valued features padded with "".
    width = {n: max(len(r[n]) for r in raw_rows) or 1 for n in ("item_genres", "history")}
    raw = {k: tf.constant([r[k] + [""] * (width[k] - len(r[k])) if k in width else r[k] for r in raw_rows])
           for k in raw_rows[0]}
    via_raw = loaded.signatures["serving_raw"](**raw)[key].numpy()
    np.testing.assert_allclose(via_raw, served, rtol=1e-5)

    # Reloaded model on the Beam-transformed rows == the serving signature on the raw rows.
    direct = tf.reshape(loaded(_batch(data), False), [-1])
    direct = tf.sigmoid(direct) if label_mode == "binary" else direct
    np.testing.assert_allclose(direct.numpy(), served, rtol=1e-5, atol=1e-6)


def test_transform_features_keeps_labels_and_evaluation_slices_are_the_cold_marks(tiny, tmp_path):
    data, out = tiny
    files = write_gz(data, str(tmp_path / "t.gz"))
    export_dir = str(tmp_path / "m")
    train_and_export(train_files=[files], eval_files=[files], transform_output=out._transform_output_dir,
                     serving_model_dir=export_dir, features=CONFIG,
                     train=TrainConfig(epochs=1, batch_size=4, embedding_dim=4, deep_layers=(4,)))
    loaded = tf.saved_model.load(export_dir)
    t = loaded.signatures["transform_features"](examples=tf.constant([to_example(r) for r in ROWS]))
    assert list(t["label"].numpy()) == [r["label"] for r in ROWS]
    # TFMA's slice signature: the cold-start marks only (a vocabulary id under a raw feature's name
    # would shadow that feature's raw values in TFMA's slices), from examples without labels.
    unlabelled = [{k: v for k, v in r.items() if k not in LABELS} for r in ROWS]
    s = loaded.signatures[SLICE_SIGNATURE](examples=tf.constant([to_example(r) for r in unlabelled]))
    assert set(s) == set(CONFIG.cold_slices)
    assert list(s["user_start"].numpy()) == [b"warm"] * 5 + [b"cold"]  # u3 was shown, never clicked
    assert os.path.exists(os.path.join(export_dir, "saved_model.pb"))


def test_empty_batch_gives_empty_outputs(tiny, tmp_path):
    data, out = tiny
    files = write_gz(data, str(tmp_path / "t.gz"))
    export_dir = str(tmp_path / "m")
    train_and_export(train_files=[files], eval_files=[files], transform_output=out._transform_output_dir,
                     serving_model_dir=export_dir, features=CONFIG,
                     train=TrainConfig(epochs=1, batch_size=4, embedding_dim=4, deep_layers=(4,)))
    loaded = tf.saved_model.load(export_dir)
    raw = loaded.signatures["serving_raw"]
    spec = raw.structured_input_signature[1]
    empty = {k: tf.zeros([0] * s.shape.rank, s.dtype) for k, s in spec.items()}  # [0] and [0, 0]
    assert raw(**empty)["probability"].shape == (0,)
    assert loaded.signatures["serving_default"](examples=tf.zeros([0], tf.string))["probability"].shape == (0,)
    # TF Serving feeds a columnar `"history": []` as shape [0], whatever the signature's rank.
    assert call_like_tf_serving(raw, **{k: [] for k in spec})["probability"].shape == (0,)
