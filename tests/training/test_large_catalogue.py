"""Large catalogues: an item vocabulary capped at its ``top_k`` most frequent items, the rest hashed
into shared OOV buckets, through Transform, the retriever's logQ table, training and the exported
index (which still lists and serves every item under its own key)."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from recsys.features import Feature
from recsys.training.retriever import item_probabilities, train_and_export
from tests.tiny import CONFIG, analyze_and_transform, to_example, write_gz

TOP_K, BUCKETS = 2, 2
# The tiny contract with a 2-item vocabulary and 2 shared buckets: item_id has 4 rows, whatever
# the number of items.
FEATURES = dataclasses.replace(CONFIG, features=tuple(
    dataclasses.replace(f, top_k=TOP_K, num_oov_buckets=BUCKETS) if f.name == "item_id" else f
    for f in CONFIG.features))


def _row(user, item, price, label, history=()):
    return dict(user_id=user, item_id=item, item_price=price, item_genres=["x"], history=list(history),
                label=label, rating=4.0 if label else 2.0)


# a x3 and b x2 are the top 2; c, d, e, f (once each) are the tail: four items, two buckets, so
# at least two of them share one. Clicks: a 2, b 1, d 1, e 1, f 1.
ROWS = [_row("u1", "a", 1.0, 1), _row("u2", "a", 1.0, 1, ["d"]), _row("u3", "a", 1.0, 0),
        _row("u1", "b", 2.0, 1, ["a"]), _row("u2", "b", 2.0, 0),
        _row("u3", "c", 3.0, 0, ["b"]), _row("u1", "d", 4.0, 1), _row("u2", "e", 5.0, 1, ["c", "f"]),
        _row("u3", "f", 6.0, 1)]
TAIL = ("c", "d", "e", "f")


@pytest.fixture(scope="module")
def transformed():
    ordered, _, out = analyze_and_transform(ROWS, FEATURES)
    ids = {r["item_id"]: int(t["item_id"]) for r, t in zip(ROWS, ordered)}
    return ordered, out, ids


def test_top_n_items_keep_their_own_ids_and_the_tail_shares_hashed_buckets(transformed):
    ordered, out, ids = transformed
    # The table is vocabulary + buckets rows, not one per item.
    assert FEATURES.vocabulary_sizes(out)["item_id"] == TOP_K + BUCKETS
    assert sorted([ids["a"], ids["b"]]) == [0, 1]  # most frequent first: a=0, b=1
    assert all(TOP_K <= ids[i] < TOP_K + BUCKETS for i in TAIL)
    # Pigeonhole: four tail items in two buckets; a top-N id is never shared.
    assert len({ids[i] for i in TAIL}) < len(TAIL)
    assert ids["a"] not in {ids[i] for i in "bcdef"} and ids["b"] not in {ids[i] for i in "acdef"}
    # The history shares the item vocabulary and its buckets: "d" in a history is item "d".
    assert int(ordered[1]["history"][0]) == ids["d"]
    assert [int(x) for x in ordered[7]["history"][:2]] == [ids["c"], ids["f"]]


def test_logq_probability_of_a_bucket_is_the_sum_of_its_items(transformed):
    _, out, ids = transformed
    clicks = {"a": 2, "b": 1, "c": 0, "d": 1, "e": 1, "f": 1}
    total = sum(clicks.values())
    expected = np.zeros(TOP_K + BUCKETS)
    for item, n in clicks.items():
        expected[ids[item]] += n
    expected[expected == 0] = 0.5  # a row nobody clicked: half the smallest count (1)
    p = item_probabilities(out, FEATURES, FEATURES.vocabulary_sizes(out))
    np.testing.assert_allclose(p, expected / total, rtol=1e-6)


@pytest.mark.e2e  # a Trainer run and a SavedModel export: ~100 s at load 19
def test_a_capped_vocabulary_trains_exports_and_serves_every_item_and_unseen_ids(transformed, tmp_path):
    from recsys.config import RetrievalConfig

    ordered, out, ids = transformed
    train = write_gz(ordered[:8], str(tmp_path / "train.gz"))
    eval_ = write_gz(ordered[8:], str(tmp_path / "eval.gz"))
    config = RetrievalConfig(epochs=1, batch_size=4, embedding_dim=4, tower_layers=(8,), output_dim=4,
                             top_k=10, index_block_size=4)
    result = train_and_export(train_files=[train], eval_files=[eval_], transform_output=out._transform_output_dir,
                              serving_model_dir=str(tmp_path / "model"), features=FEATURES, config=config)
    assert result["catalog_size"] == 6  # every item, the bucketed tail included
    model = tf.saved_model.load(str(tmp_path / "model"))
    # A user never seen, with a tail item and an id no split holds in the history.
    got = model.signatures["serving_exclude"](
        examples=tf.constant([to_example(dict(user_id="new", history=["e", "never-seen"]))]),
        exclude=tf.constant([["never-seen-either"]]))
    items = [i.decode() for i in got["item_ids"].numpy()[0]]
    assert sorted(items) == ["a", "b", "c", "d", "e", "f"]
    # Two tail items in one bucket are still told apart by their attributes (price here).
    shared = [i for i in TAIL if any(ids[i] == ids[j] for j in TAIL if j != i)]
    scores = dict(zip(items, got["scores"].numpy()[0]))
    assert len({float(scores[i]) for i in shared}) == len(shared)
