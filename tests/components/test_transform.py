"""preprocessing_fn through tft_beam on tiny in-memory data, with hand-checked outputs."""

import numpy as np
import pytest
import tensorflow as tf

from recsys.features import BUCKET_SUFFIX, CATALOG_ITEM_KEY, PAD_ID, raw_key
from tests.tiny import CONFIG, ROWS, analyze_and_transform, tiny_transform


@pytest.fixture(scope="module")
def transformed():
    return tiny_transform()


def test_vocabulary_ids_by_frequency_and_oov(transformed):
    data, _, _ = transformed
    assert [r["item_id"] for r in data] == [0, 1, 0, 0, 1, 2]
    # user u1 (3x) = 0, u2 (2x) = 1, u3 = 2
    assert [r["user_id"] for r in data] == [0, 0, 1, 1, 0, 2]


def test_history_shares_item_vocabulary_truncates_and_pads(transformed):
    data, _, _ = transformed
    h = [list(r["history"]) for r in data]
    assert h[0] == [PAD_ID] * 3
    assert h[1] == [0, PAD_ID, PAD_ID]
    # first 3 of [b, a, zz, c]; 'zz' is unseen -> one of item_id's 3 OOV buckets (ids 3..5)
    assert h[2][:2] == [1, 0] and 3 <= h[2][2] < 6


def test_multi_categorical_truncated_to_max_length(transformed):
    data, _, _ = transformed
    genres = [list(r["item_genres"]) for r in data]
    assert genres[0][1] != PAD_ID and len(genres[0]) == 2  # 3 values cut to 2
    assert genres[2] == [PAD_ID, PAD_ID]  # empty list -> all padding


def test_numeric_z_score_and_buckets(transformed):
    data, _, _ = transformed
    z = np.array([r["item_price"] for r in data])
    assert abs(z.mean()) < 1e-5 and abs(z.std() - 1) < 1e-4
    buckets = [r["item_price" + BUCKET_SUFFIX] for r in data]
    assert buckets == sorted(buckets) and buckets[0] == 0 and buckets[-1] == 1


def test_crosses_hash_the_joined_values_into_buckets(transformed):
    data, _, out = transformed
    cross = [int(r["cross_user_id_x_item_price"]) for r in data]
    assert all(0 <= c < 7 for c in cross)
    # rows 0 and 1 share user u1 and the lowest price bucket; the graph reproduces the ids
    assert cross[0] == cross[1] == int(tf.strings.to_hash_bucket_fast(["u1\x1f0"], 7)[0])
    assert CONFIG.vocabulary_sizes(out)["cross_user_id_x_item_price"] == 7


def test_labels_pass_through(transformed):
    data, _, _ = transformed
    assert [r["label"] for r in data] == [1, 0, 1, 0, 1, 0]
    assert [r["rating"] for r in data] == [5.0, 2.0, 4.0, 3.0, 4.5, 1.0]


def test_vocabulary_sizes_include_oov(transformed):
    _, _, out = transformed
    sizes = CONFIG.vocabulary_sizes(out)
    assert sizes["item_id"] == 3 + 3 and sizes["history"] == 6
    assert sizes["user_id"] == 3 + 2
    assert sizes["item_genres"] == 2 + 1  # x, y + 1 OOV: "z" only ever appears past max_length
    assert sizes["item_price" + BUCKET_SUFFIX] == 3


def _key(row):
    def values(v):
        v = np.ravel(v)
        return tuple(v.tolist() if v.dtype.kind in "OSU" else v.astype(np.float64).round(5).tolist())
    return tuple((k, values(v)) for k, v in sorted(row.items()))


def test_raw_item_key_passes_through_for_the_retrieval_catalogue(transformed):
    data, _, _ = transformed
    assert [r[CATALOG_ITEM_KEY] for r in data] == [r["item_id"].encode() for r in ROWS]


def test_raw_features_pass_through_in_their_raw_dtype_padded_to_max_length(transformed):
    data, _, out = transformed
    spec = out.transformed_feature_spec()
    assert spec[raw_key("item_price")].dtype == tf.float32 and spec[raw_key("user_id")].dtype == tf.string
    assert spec[raw_key("item_genres")].shape == [2] and spec[raw_key("history")].shape == [3]
    assert [float(r[raw_key("item_price")]) for r in data] == [r["item_price"] for r in ROWS]
    assert [r[raw_key("user_id")] for r in data] == [r["user_id"].encode() for r in ROWS]
    # First max_length values, padded with "": [x, y, z] -> [x, y]; [] -> ["", ""].
    assert [list(r[raw_key("item_genres")]) for r in data][:3] == [[b"x", b"y"], [b"x", b""], [b"", b""]]
    assert list(data[2][raw_key("history")]) == [b"b", b"a", b"zz"]
    assert set(CONFIG.passthrough_keys()) == ({CATALOG_ITEM_KEY, "user_start", "item_start"}
                                              | {raw_key(f.name) for f in CONFIG.features})


def test_cold_marks_say_which_ids_had_a_training_interaction(transformed):
    """Interactions are the clicks here (``interactions = "label"``): u3 and item c were only ever
    shown (label 0), so they are cold although both are in the id vocabularies."""
    data, beam_rows, _ = transformed
    assert [r["user_start"] for r in data] == [b"warm"] * 5 + [b"cold"]
    assert [r["item_start"] for r in data] == [b"warm"] * 5 + [b"cold"]
    assert sorted(r["item_start"] for r in beam_rows) == [b"cold"] + [b"warm"] * 5


def test_an_id_never_seen_in_training_is_cold_at_serving_without_labels(transformed):
    _, _, out = transformed
    raw = {"user_id": tf.constant(["u9", "u1"]), "item_id": tf.constant(["new", "a"]),
           "item_price": tf.constant([3.0, 3.0]),
           "item_genres": tf.sparse.from_dense(tf.constant([[""], [""]])),
           "history": tf.sparse.from_dense(tf.constant([[""], [""]]))}
    got = out.transform_features_layer()(raw)
    assert list(got["user_start"].numpy()) == [b"cold", b"warm"]
    assert list(got["item_start"].numpy()) == [b"cold", b"warm"]


def test_pass_through_names_must_not_shadow_a_raw_feature():
    from recsys.features import Feature, FeatureConfig

    config = FeatureConfig(dataset="t", features=(
        Feature("user_id", "categorical", side="user"), Feature("item_id", "categorical", side="item"),
        Feature(raw_key("item_id"), "categorical", side="item")))
    rows = [dict(user_id="u", item_id="i", label=1, **{raw_key("item_id"): "j"})]
    with pytest.raises(ValueError, match="pass-through name 'raw__item_id' is also a raw feature"):
        analyze_and_transform(rows, config)


def test_beam_output_equals_the_embedded_transform_graph(transformed):
    """Beam's transformed rows == the saved graph applied in TF (what serving runs): no skew."""
    data, beam_rows, _ = transformed
    assert sorted(map(_key, beam_rows)) == sorted(map(_key, data))


def test_serving_without_labels_transforms_features_only(transformed):
    data, _, out = transformed
    raw = {
        "user_id": tf.constant(["u2"]), "item_id": tf.constant(["a"]),
        "item_price": tf.constant([3.0]),
        "item_genres": tf.sparse.from_dense(tf.constant([[""]])),
        "history": tf.sparse.from_dense(tf.constant([["b", "a", "zz", "c"]])),
    }
    got = out.transform_features_layer()(raw)
    assert int(got["item_id"][0]) == data[2]["item_id"]
    assert list(got["history"][0].numpy()) == list(data[2]["history"])
    assert "label" not in got  # outputs that need labels are dropped when labels are absent


def test_time_feature_becomes_utc_hour_and_weekday():
    from recsys.features import Feature, FeatureConfig

    config = FeatureConfig(dataset="t", features=(
        Feature("user_id", "categorical", side="user"), Feature("item_id", "categorical", side="item"),
        Feature("timestamp", "time", dtype="int64", side="context")))
    # 0 = Thu 1970-01-01 00:00; 1700000000 = Tue 2023-11-14 22:13:20; 1699833600 = Mon 00:00.
    rows = [dict(user_id="u", item_id="i", timestamp=t, label=1) for t in (0, 1700000000, 1699833600)]
    data, beam_rows, out = analyze_and_transform(rows, config)
    assert [int(r["timestamp_hour"]) for r in data] == [0, 22, 0]
    assert [int(r["timestamp_weekday"]) for r in data] == [3, 1, 0]
    assert sorted(int(r["timestamp_weekday"]) for r in beam_rows) == [0, 1, 3]
    sizes = config.vocabulary_sizes(out)
    assert sizes["timestamp_hour"] == 24 and sizes["timestamp_weekday"] == 7


def test_age_at_turns_a_listing_time_into_the_age_in_days_at_the_request():
    from recsys.features import Feature, FeatureConfig

    config = FeatureConfig(dataset="t", features=(
        Feature("user_id", "categorical", side="user"), Feature("item_id", "categorical", side="item"),
        Feature("timestamp", "time", dtype="int64", side="context"),
        Feature("item_listed", "numeric", dtype="int64", side="item", age_at="timestamp",
                log1p=True, num_buckets=2)))
    # Ages 0, e - 1 and 3 days (listed 3 days before), and a listing after the request -> age 0.
    # log1p: 0, 1, log 4, 0 -> mean m = (1 + log 4)/4, z = (x - m) / std (population).
    day, t = 86_400, 1_700_000_000
    listed = [t, t - int((np.e - 1) * day), t - 3 * day, t + 5 * day]
    rows = [dict(user_id="u", item_id="i", timestamp=t, item_listed=v, label=1) for v in listed]
    data, beam_rows, _ = analyze_and_transform(rows, config)
    x = np.array([0.0, 1.0, np.log(4.0), 0.0])
    expected = (x - x.mean()) / x.std()
    assert np.allclose([r["item_listed"] for r in data], expected, atol=1e-4)
    buckets = [int(r["item_listed" + BUCKET_SUFFIX]) for r in data]
    assert buckets[0] == buckets[3] == 0 and buckets[2] == 1  # fresh vs old
    assert [int(r[raw_key("item_listed")]) for r in data] == listed  # serving gets the raw time


def test_match_of_is_the_share_of_the_history_in_the_candidates_category():
    from recsys.features import Feature, FeatureConfig, match_key

    config = FeatureConfig(dataset="t", features=(
        Feature("user_id", "categorical", side="user"), Feature("item_id", "categorical", side="item"),
        Feature("item_category", "categorical", side="item"),
        Feature("history_category", "multi_categorical", side="user", max_length=3,
                match_of="item_category")))
    # By hand: [a, b, a] vs a -> 2/3; [b] vs a -> 0; [] -> 0 (no history, no affinity);
    # [a, a, a, a] vs a -> 3/3 (only the first max_length count); [b, c] vs c -> 1/2.
    hist = [["a", "b", "a"], ["b"], [], ["a", "a", "a", "a"], ["b", "c"]]
    cats = ["a", "a", "a", "a", "c"]
    rows = [dict(user_id="u", item_id="i", item_category=c, history_category=h, label=1)
            for c, h in zip(cats, hist)]
    data, beam_rows, _ = analyze_and_transform(rows, config)
    key = match_key("history_category")
    assert np.allclose([r[key] for r in data], [2 / 3, 0, 0, 1, 0.5], atol=1e-6)
    assert sorted(round(float(r[key]), 4) for r in beam_rows) == [0, 0, 0.5, 0.6667, 1]
