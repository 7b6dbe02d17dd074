"""Two-tower retrieval: logQ maths, the exported index (exclusions, cold users), the gate."""

import dataclasses
import math
import os
from collections import Counter

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_recommenders as tfrs

from recsys.evaluation.retrieval import evaluate
from recsys.training.retriever import item_probabilities, train_and_export
from recsys.models.retrieval import sampling_probability
from recsys.models.retrieval_export import RetrievalIndex
from recsys.evaluation import retrieval_metrics
from recsys.config import RetrievalConfig, RetrievalEvalConfig
from tests.tiny import CONFIG, ROWS, tiny_transform, call_like_tf_serving, to_example, write_gz

TINY = RetrievalConfig(epochs=2, batch_size=4, embedding_dim=4, tower_layers=(8,), output_dim=4,
                       top_k=5, uniform_negatives=2)


def test_logq_correction_subtracts_log_sampling_probability():
    # Two queries, two candidates, identity embeddings: raw scores [[1, 0], [0, 1]].
    # With q = [1/2, 1/4] the corrected logits are s - log q, so exp(logits) rows are
    # [2e, 4] and [2, 4e]; the summed softmax cross-entropy of the diagonal is:
    expected = math.log((2 * math.e + 4) / (2 * math.e)) + math.log((2 + 4 * math.e) / (4 * math.e))
    q = sampling_probability(tf.constant([0, 1]), tf.constant([0.5, 0.25]), tf.constant(2), 0, 2)
    np.testing.assert_allclose(q.numpy(), [0.5, 0.25])
    task = tfrs.tasks.Retrieval(metrics=None)
    eye = tf.eye(2)
    loss = task(eye, eye, candidate_sampling_probability=q, compute_metrics=False)
    np.testing.assert_allclose(float(loss), expected, rtol=1e-6)
    uncorrected = task(eye, eye, compute_metrics=False)
    np.testing.assert_allclose(float(uncorrected), 2 * math.log(1 + math.exp(-1)), rtol=1e-6)


def test_mixed_negatives_probability_is_the_per_slot_mixture():
    # B = 4 frequency-sampled slots and M = 2 uniform slots over N = 8 items:
    # p_j = (4 q_j + 2/8) / 6.
    q = sampling_probability(tf.constant([0, 1]), tf.constant([0.5, 0.1]), tf.constant(4), 2, 8)
    np.testing.assert_allclose(q.numpy(), [(2 + 0.25) / 6, (0.4 + 0.25) / 6], rtol=1e-6)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    data, _, out = tiny_transform()
    d = tmp_path_factory.mktemp("retrieval")
    # Item "c" (row 5) is only in the eval split: it must still be in the catalogue.
    train = write_gz(data[:5], str(d / "train.gz"))
    eval_ = write_gz(data[5:], str(d / "eval.gz"))
    model_dir = str(d / "model")
    result = train_and_export(train_files=[train], eval_files=[eval_], transform_output=out._transform_output_dir,
                              serving_model_dir=model_dir, features=CONFIG, config=TINY)
    return out, model_dir, result, d


def test_item_probabilities_come_from_transform_counts(tiny):
    out, *_ = tiny
    # Interactions are the label-1 rows: a twice, b once, c never (half the smallest count).
    p = item_probabilities(out, CONFIG, CONFIG.vocabulary_sizes(out))
    np.testing.assert_allclose(p, np.array([2, 1, 0.5, 0.5, 0.5, 0.5]) / 3, rtol=1e-6)


def test_exported_index_answers_for_an_unseen_user_and_honours_exclusions(tiny):
    _, model_dir, result, _ = tiny
    assert result["catalog_size"] == 3 and result["train_loss"][-1] > 0
    model = tf.saved_model.load(model_dir)
    assert sorted(i.decode() for i in model.item_ids.numpy()) == ["a", "b", "c"]
    cold = tf.constant([to_example(dict(user_id="never-seen", history=["zz"]))])
    out = model.signatures["serving_default"](examples=cold)
    assert out["item_ids"].shape == (1, 3)  # top_k 5 clipped to the catalogue
    assert sorted(i.decode() for i in out["item_ids"].numpy()[0]) == ["a", "b", "c"]
    assert np.all(np.diff(out["scores"].numpy()[0]) <= 0)  # best first

    two = tf.constant([to_example(dict(user_id="u1", history=["a"])), to_example(dict(user_id="u2"))])
    out = model.signatures["serving_exclude"](examples=two, exclude=tf.constant([["a", "b"], ["c", ""]]))
    ids = out["item_ids"].numpy()
    assert list(ids[0]) == [b"c", b"", b""]  # only c remains; the tail is padding
    assert b"c" not in ids[1] and sorted(ids[1][:2]) == [b"a", b"b"]

    raw = model.signatures["serving_raw"](user_id=tf.constant(["u1"]), history=tf.constant([["a", ""]]),
                                          exclude=tf.constant([["b"]]))
    assert b"b" not in raw["item_ids"].numpy()[0]


# Each item's raw attributes in the data, from its first example (train split first): genres cut
# to max_length 2 and padded with "".
ATTRIBUTES = {b"a": (1.0, [b"x", b"y"]), b"b": (2.0, [b"x", b""]), b"c": (6.0, [b"x", b""]),
              b"": (0.0, [b"", b""])}  # padding


def test_candidates_carry_their_raw_item_attributes_in_every_signature(tiny):
    _, model_dir, _, _ = tiny
    model = tf.saved_model.load(model_dir)
    two = tf.constant([to_example(dict(user_id="u1", history=["a"])), to_example(dict(user_id="u2"))])
    exclude = tf.constant([["a", "b"], ["", ""]])  # row 0: only c is left, then padding
    calls = {"serving_default": dict(examples=two),
             "serving_exclude": dict(examples=two, exclude=exclude),
             "serving_raw": dict(user_id=tf.constant(["u1", "u2"]), history=tf.constant([["a"], [""]]),
                                 exclude=exclude)}
    for name, inputs in calls.items():
        out = model.signatures[name](**inputs)
        assert set(out) == {"item_ids", "scores", "item_price", "item_genres"}, name
        assert out["item_price"].dtype == tf.float32 and out["item_genres"].dtype == tf.string
        assert out["item_price"].shape == (2, 3) and out["item_genres"].shape == (2, 3, 2)
        ids, prices, genres = (out[k].numpy() for k in ("item_ids", "item_price", "item_genres"))
        assert sorted(ids[1]) == [b"a", b"b", b"c"]
        for b in range(2):
            assert [ATTRIBUTES[i][0] for i in ids[b]] == list(prices[b]), name
            assert [ATTRIBUTES[i][1] for i in ids[b]] == genres[b].tolist(), name
    padded = model.signatures["serving_exclude"](examples=two, exclude=exclude)
    assert padded["item_ids"].numpy()[0].tolist() == [b"c", b"", b""]
    assert padded["item_price"].numpy()[0].tolist() == [6.0, 0.0, 0.0]
    assert padded["item_genres"].numpy()[0].tolist() == [[b"x", b""], [b"", b""], [b"", b""]]


def test_empty_batch_gives_empty_outputs(tiny):
    _, model_dir, _, _ = tiny
    model = tf.saved_model.load(model_dir)
    shapes = {"item_ids": (0, 3), "scores": (0, 3), "item_price": (0, 3), "item_genres": (0, 3, 2)}
    out = model.signatures["serving_raw"](user_id=tf.zeros([0], tf.string), history=tf.zeros([0, 0], tf.string),
                                          exclude=tf.zeros([0, 0], tf.string))
    assert {k: tuple(v.shape) for k, v in out.items()} == shapes
    out = model.signatures["serving_exclude"](examples=tf.zeros([0], tf.string), exclude=tf.zeros([0, 0], tf.string))
    assert {k: tuple(v.shape) for k, v in out.items()} == shapes
    # TF Serving feeds a columnar `"history": [], "exclude": []` as shape [0] tensors.
    out = call_like_tf_serving(model.signatures["serving_raw"], user_id=[], history=[], exclude=[])
    assert {k: tuple(v.shape) for k, v in out.items()} == shapes


class _Identity(tf.keras.layers.Layer):
    def call(self, features, training=False):
        return features["q"]


# 0: one [B, N] product; 7: nine blocks, the last one short (60 = 8 x 7 + 4); 3: blocks smaller
# than K, so one block can never fill the list alone.
@pytest.mark.parametrize("block_size", [0, 7, 3])
def test_exclusions_are_never_returned_and_the_rest_is_exact_top_k(block_size):
    rng = np.random.default_rng(0)
    n, d, k = 60, 8, 10
    ids = np.array([f"i{j}" for j in range(n)], dtype=object)
    emb = rng.normal(size=(n, d)).astype(np.float32)
    index = RetrievalIndex(_Identity(), None, ids, emb, k, block_size=block_size)
    queries = rng.normal(size=(20, d)).astype(np.float32)
    scores = queries @ emb.T
    exclude = []
    for s in scores:  # exclude a few of each query's true best items plus unknown keys
        best = list(ids[np.argsort(-s)[:rng.integers(0, 15)]])
        exclude.append(best + ["unknown"] + [""] * (16 - len(best)))
    out = index.top_k(index.query({"q": tf.constant(queries)}), tf.constant(exclude))
    for row, s, ex in zip(out["item_ids"].numpy(), scores, exclude):
        got = [i.decode() for i in row]
        assert not set(got) & set(ex)
        allowed = [j for j in np.argsort(-s) if ids[j] not in ex]
        assert got == list(ids[allowed[:k]])


@pytest.mark.parametrize("block_size", [2, 3])
def test_blocked_index_breaks_ties_by_catalogue_row_like_one_top_k(block_size):
    # Rows 1, 2, 4 and 5 score 1.0, rows 0 and 3 score 0.5 for the query [1]: one top_k over the
    # whole row returns the tied rows lowest first, [1, 2, 4]; the blocked merge must too, even
    # when the tie spans blocks ([0 1] [2 3] [4 5] or [0 1 2] [3 4 5]).
    ids = np.array([f"i{j}" for j in range(6)], dtype=object)
    emb = np.array([[0.5], [1.0], [1.0], [0.5], [1.0], [1.0]], np.float32)
    whole = RetrievalIndex(_Identity(), None, ids, emb, 3)
    blocked = RetrievalIndex(_Identity(), None, ids, emb, 3, block_size=block_size)
    q = {"q": tf.constant([[1.0]])}
    assert [i.decode() for i in blocked.top_k(blocked.query(q))["item_ids"].numpy()[0]] == ["i1", "i2", "i4"]
    assert whole.top_k(whole.query(q))["item_ids"].numpy().tolist() == \
        blocked.top_k(blocked.query(q))["item_ids"].numpy().tolist()
    with pytest.raises(ValueError, match="block_size = -1"):
        RetrievalIndex(_Identity(), None, ids, emb, 3, block_size=-1)


@pytest.mark.parametrize("block_size", [0, 2])
def test_index_gathers_attributes_in_their_dtypes_pads_them_and_saves_them(tmp_path, block_size):
    rng = np.random.default_rng(1)
    n, d, k = 7, 4, 5
    ids = np.array([f"i{j}" for j in range(n)], dtype=object)
    emb = rng.normal(size=(n, d)).astype(np.float32)
    attributes = {"item_year": np.arange(1990, 1990 + n, dtype=np.int64),
                  "item_price": rng.uniform(1, 9, n).astype(np.float32),
                  "item_brand": np.array([f"b{j}" for j in range(n)], dtype=object),
                  "item_genres": np.array([[f"g{j}", f"h{j}" if j % 2 else ""] for j in range(n)], dtype=object)}
    index = RetrievalIndex(_Identity(), None, ids, emb, k, attributes, block_size=block_size)
    queries = rng.normal(size=(3, d)).astype(np.float32)
    exclude = np.array([["i0", "i1", "i2", "i3"], [""] * 4, ["i6", "nope", "", ""]], dtype=object)

    @tf.function(input_signature=[tf.TensorSpec([None, d], tf.float32, name="q"),
                                  tf.TensorSpec([None, None], tf.string, name="exclude")])
    def serve(q, exclude):
        return index.top_k(index.query({"q": q}), exclude)

    direct = {k: v.numpy() for k, v in serve(queries, exclude).items()}
    scores = queries @ emb.T
    pad = {"item_year": 0, "item_price": 0.0, "item_brand": b"", "item_genres": [b"", b""]}
    for b in range(3):  # the exact top-K, attributes gathered per item, padding "" / 0
        best = [j for j in np.argsort(-scores[b]) if ids[j] not in exclude[b]][:k]
        assert [i.decode() for i in direct["item_ids"][b]] == [ids[j] for j in best] + [""] * (k - len(best))
        for name, values in attributes.items():
            want = [np.asarray(values[j]).tolist() for j in best]
            if values.dtype == object:
                want = [[x.encode() for x in v] if isinstance(v, list) else v.encode() for v in want]
            want += [pad[name]] * (k - len(best))
            assert direct[name][b].tolist() == want, name  # float32 values compare exactly
    assert direct["item_year"].dtype == np.int64 and direct["item_genres"].shape == (3, k, 2)

    tf.saved_model.save(index, str(tmp_path), signatures={"serving_exclude": serve.get_concrete_function()})
    reloaded = tf.saved_model.load(str(tmp_path)).signatures["serving_exclude"](
        q=tf.constant(queries), exclude=tf.constant(exclude))
    assert set(reloaded) == set(direct)
    for key, value in reloaded.items():
        assert value.dtype.as_numpy_dtype == direct[key].dtype or value.dtype == tf.string, key
        np.testing.assert_array_equal(value.numpy(), direct[key])
    with pytest.raises(ValueError, match="'scores': 7 rows for 7 items"):
        RetrievalIndex(_Identity(), None, ids, emb, k, {"scores": attributes["item_price"]})


def _raw_split(d, name, rows):
    os.makedirs(d / f"Split-{name}", exist_ok=True)
    write_gz(rows, str(d / f"Split-{name}" / "data.gz"))


def test_gate_refuses_a_catalogue_not_larger_than_k_whatever_the_recall(tiny):
    # The tiny catalogue (3 items) fits in every top-100 list: Recall@100 is 1.0 for any model,
    # so it must not be blessed even with every other threshold disabled.
    _, model_dir, _, d = tiny
    raw = d / "examples"
    _raw_split(raw, "train", ROWS[:5])
    _raw_split(raw, "eval", ROWS[5:] + [dict(ROWS[2], user_id="u3")])
    result = evaluate(str(raw), model_dir, CONFIG, RetrievalEvalConfig(min_lift_over_popularity=-1.0))
    assert result["catalog_size"] == 3 and result["test_cases"] == 1  # interactions = label-1 rows only
    assert not result["blessed"]
    [failure] = result["failures"]
    assert failure.startswith("catalogue has 3 items, not more than K = 100")


def test_metrics_golden_values():
    ranks = retrieval_metrics.target_ranks([["a", "b", "c"], ["x", "y"], ["c"]], ["b", "z", "c"])
    assert list(ranks) == [2, 0, 1]
    m = retrieval_metrics.summarize(ranks, ks=(1, 2))
    assert m["recall@1"] == pytest.approx(1 / 3) and m["recall@2"] == pytest.approx(2 / 3)
    assert m["ndcg@10"] == pytest.approx((1 / math.log2(3) + 1) / 3)
    assert m["mrr"] == pytest.approx((0.5 + 1) / 3)
    assert retrieval_metrics.coverage([["a", "b"], ["a", ""]], catalog_size=4, k=2) == 0.5


def test_popularity_baseline_skips_exclusions_and_breaks_ties_by_id():
    counts = Counter({"a": 5, "b": 3, "c": 3})
    lists = retrieval_metrics.popularity_top_k(counts, ["d", "c", "b", "a"], [set(), {"a", "b"}], k=3)
    assert lists == [["a", "b", "c"], ["c", "d"]]


def test_time_context_feeds_the_query_tower_only():
    from recsys.models.retrieval import CANDIDATE_SIDES, QUERY_SIDES, TwoTowerModel, transformed_keys
    from recsys.features import Feature, FeatureConfig

    config = FeatureConfig(dataset="t", features=CONFIG.features + (
        Feature("timestamp", "time", dtype="int64", side="context"),))
    assert {"timestamp_hour", "timestamp_weekday"} <= set(transformed_keys(config, QUERY_SIDES))
    assert not {"timestamp_hour", "timestamp_weekday"} & set(transformed_keys(config, CANDIDATE_SIDES))
    sizes = {"user_id": 5, "item_id": 6, "item_price_bucket": 3, "item_genres": 3, "history": 6,
             "timestamp_hour": 24, "timestamp_weekday": 7}
    model = TwoTowerModel(config, sizes, dataclasses.replace(TINY, uniform_negatives=0))
    batch = {"user_id": tf.constant([0, 1]), "history": tf.constant([[0, -1, -1], [1, 2, -1]]),
             "timestamp_hour": tf.constant([0, 23]), "timestamp_weekday": tf.constant([6, 0])}
    q = model.query_tower(batch)
    np.testing.assert_allclose(np.linalg.norm(q.numpy(), axis=1), 1.0, rtol=1e-5)
    for part, n in (("timestamp_hour", 24), ("timestamp_weekday", 7)):  # time context moves queries
        moved = model.query_tower({**batch, part: (batch[part] + 1) % n})
        assert np.abs(moved.numpy() - q.numpy()).max() > 1e-4


@pytest.mark.parametrize("exclude_seen, recall", [(True, 0.0), (False, 1.0)])
def test_exclude_seen_decides_whether_a_training_item_can_be_a_hit(tiny, exclude_seen, recall):
    # u1 trained on "a" (ROWS[0]); the one test case is u1 -> "a" again. Excluded, it can never
    # be returned; not excluded, the 3-item catalogue fits in the top 10, so it is a hit.
    _, model_dir, _, d = tiny
    raw = d / f"examples-exclude-{exclude_seen}"
    _raw_split(raw, "train", ROWS[:5])
    _raw_split(raw, "eval", [ROWS[0]])
    result = evaluate(str(raw), model_dir, CONFIG, RetrievalEvalConfig(exclude_seen=exclude_seen))
    assert result["test_cases"] == 1 and result["exclude_seen"] is exclude_seen
    assert result["overall"]["recall@10"] == recall
    assert result["baseline"]["overall"]["recall@10"] == recall  # popularity: the same exclusions


def test_cold_slices_mark_ids_without_a_training_interaction():
    from recsys.evaluation.retrieval import cold_slices

    masks = cold_slices(CONFIG, ["u1", "u2"], ["a", "b"], users=["u1", "u3", "u2"], targets=["c", "a", "b"])
    assert {k: list(v) for k, v in masks.items()} == {
        "user_start:cold": [False, True, False], "user_start:warm": [True, False, True],
        "item_start:cold": [True, False, False], "item_start:warm": [False, True, True]}
    # A mark no case has is no slice (as TFMA has no slice for a value it never sees).
    assert set(cold_slices(CONFIG, ["u1"], ["a"], ["u1"], ["a"])) == {"user_start:warm", "item_start:warm"}


def test_a_cold_item_is_in_the_index_and_popularity_ranks_it_last(tiny):
    # "c" has no training interaction (only an eval-split impression): the retriever's catalogue
    # holds it, so a cold user's click on it can be a hit; popularity (count 0) ranks it last.
    _, model_dir, _, d = tiny
    raw = d / "examples-cold"
    _raw_split(raw, "train", ROWS[:5])
    _raw_split(raw, "eval", [dict(ROWS[5], user_id="u9", label=1), dict(ROWS[2], user_id="u1")])
    result = evaluate(str(raw), model_dir, CONFIG, RetrievalEvalConfig(exclude_seen=False))
    slices, baseline = result["slices"], result["baseline"]["slices"]
    assert slices["user_start:cold"]["count"] == slices["item_start:cold"]["count"] == 1
    assert slices["user_start:warm"]["count"] == slices["item_start:warm"]["count"] == 1
    assert slices["item_start:cold"]["recall@10"] == 1.0  # 3-item catalogue: every list holds c
    # popularity's top-K of a 3-item catalogue holds c too, but last: rank 3
    assert baseline["item_start:cold"]["mrr"] == pytest.approx(1 / 3)


@pytest.mark.parametrize("rate", [0.0, 0.5])
def test_oov_dropout_trains_the_user_and_item_oov_rows(rate):
    """Without it (rate 0) no training id ever maps to an OOV bucket, so a cold user's or item's
    id row stays its random initial value; with it both vocabularies' buckets are trained."""
    from recsys.models.retrieval import TwoTowerModel
    from tests.tiny import model_batch

    data, _, out = tiny_transform()
    sizes = CONFIG.vocabulary_sizes(out)  # user_id 3 + 2 OOV, item_id 3 + 3 OOV
    tf.keras.utils.set_random_seed(0)
    model = TwoTowerModel(CONFIG, sizes, dataclasses.replace(TINY, uniform_negatives=0, oov_dropout=rate))
    batch = model_batch(data * 8)
    # Row 2's history holds "zz", an unseen item: its bucket would be trained without any dropout.
    batch["history"] = tf.where(batch["history"] >= 3, tf.constant(-1, tf.int64), batch["history"])
    model.compute_loss(batch)  # builds the tables
    oov = {key: model.embedding.table(key).embeddings.numpy()[3:].copy() for key in ("user_id", "item_id")}
    model.compile(optimizer=tf.keras.optimizers.Adam(0.05))
    model.fit(tf.data.Dataset.from_tensors(batch).repeat(10), verbose=0)
    for key, before in oov.items():
        after = model.embedding.table(key).embeddings.numpy()[3:]
        assert np.array_equal(before, after) == (rate == 0.0), key
