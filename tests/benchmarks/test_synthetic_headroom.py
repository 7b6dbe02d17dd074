"""benchmarks/synthetic_headroom.py's grid keys: which crosses a setting embeds (``embed_crosses``)
and which features it leaves out (``without``), on one Transform (the choice is the model's, not
the pipeline's)."""

import pytest

from benchmarks.synthetic_headroom import setting_features
from recsys.features import FeatureCross
from tests.tiny import CONFIG

CROSS = CONFIG.crosses[0].name  # cross_user_id_x_item_price, embed = false


def test_a_setting_embeds_the_named_crosses_and_passes_the_rest_to_train():
    features, keys = setting_features(CONFIG, f"epochs=3,embed_crosses={CROSS},embedding_l2=0.001")
    assert [c.name for c in features.embedded_crosses] == [CROSS]
    assert keys == ["epochs=3", "embedding_l2=0.001"]
    assert features.features == CONFIG.features


def test_none_turns_the_config_s_own_embedding_off_and_no_key_keeps_it():
    embedded = CONFIG.__class__(**{**CONFIG.__dict__, "crosses": (FeatureCross(
        ("user_id", "item_price"), hash_buckets=7, embed=True),)})
    assert setting_features(embedded, "epochs=3,embed_crosses=none")[0].embedded_crosses == ()
    assert setting_features(embedded, "epochs=3") == (embedded, ["epochs=3"])


def test_an_unknown_cross_name_is_refused_with_the_known_ones():
    with pytest.raises(ValueError, match=f"embed_crosses names \\['cross_x'\\].*'{CROSS}'"):
        setting_features(CONFIG, "embed_crosses=cross_x")


def test_cross_l2_sets_every_cross_table_s_own_l2_and_is_not_a_train_key():
    features, keys = setting_features(CONFIG, f"embed_crosses={CROSS},cross_l2=0.03,embedding_l2=0.001")
    assert [(c.embed, c.l2) for c in features.crosses] == [(True, 0.03)]
    assert keys == ["embedding_l2=0.001"]
    with pytest.raises(ValueError, match="cross_l2 = 'x'; expected a number >= 0"):
        setting_features(CONFIG, "cross_l2=x")
    with pytest.raises(ValueError, match="'l2' = -1.0; expected a number >= 0"):
        setting_features(CONFIG, "cross_l2=-1")


def test_without_leaves_features_out_of_the_model_only_and_names_an_unknown_one():
    features, keys = setting_features(CONFIG, "epochs=3,without=item_genres+history,seed=43")
    assert [f.name for f in features.features] == ["user_id", "item_id", "item_price"]
    assert keys == ["epochs=3", "seed=43"] and features.crosses == CONFIG.crosses
    with pytest.raises(ValueError, match=r"without names \['item_ctr'\]; expected '\+'-joined features"):
        setting_features(CONFIG, "without=item_ctr")
