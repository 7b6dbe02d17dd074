"""Builds a ranker by name from the typed train config: each variant is a thin choice of blocks."""

from __future__ import annotations

import tensorflow as tf
import tensorflow_recommenders as tfrs

from components.transform import BUCKET_SUFFIX
from models.dcn import DCNInteraction
from models.din import DINSequencePooling
from models.inputs import FeatureEmbedding
from models.ranking import Ranker, make_task
from models.wide_deep import DeepMLP, WideLinear
from recsys.config import TrainConfig
from recsys.features import FeatureConfig


def _dcn(train: TrainConfig, features: FeatureConfig, vocab_sizes: dict[str, int]) -> dict:
    """Cross network + deep network (Wang et al. 2021)."""
    return dict(interaction=DCNInteraction(
        num_cross_layers=train.cross_layers, projection_dim=train.projection_dim or None,
        deep_layers=tuple(train.deep_layers), structure=train.cross_structure, dropout=train.dropout))


def _wide_deep(train: TrainConfig, features: FeatureConfig, vocab_sizes: dict[str, int]) -> dict:
    """Wide: a linear model over every id feature and the config's hashed crosses (memorisation);
    deep: an MLP over the embeddings (generalisation). Trained jointly (Cheng et al. 2016)."""
    wide_ids = [f.name for f in features.features if f.kind in ("categorical", "multi_categorical")]
    wide_ids += [f.name + BUCKET_SUFFIX for f in features.features if f.kind == "numeric" and f.num_buckets]
    wide_ids += [key for f in features.features for key in f.time_parts]
    wide_ids += [c.name for c in features.crosses]
    return dict(interaction=DeepMLP(tuple(train.deep_layers), train.dropout, name="deep"),
                wide=WideLinear({n: vocab_sizes[n] for n in wide_ids}, name="wide_linear"))


def _din(train: TrainConfig, features: FeatureConfig, vocab_sizes: dict[str, int]) -> dict:
    """Target attention of the candidate item over each behaviour sequence (Zhou et al. 2018)."""
    sequences = [f.name for f in features.features if f.kind == "sequence"]
    if not sequences:
        raise ValueError(f"train.model='din' needs a 'sequence' feature (behaviour history); "
                         f"data set {features.dataset!r} has none")
    for name in sequences:
        if features[name].vocab_from != features.item_key:
            raise ValueError(f"din: sequence {name!r} must share the candidate's vocabulary "
                             f"(vocab_from = {features.item_key!r}) to be compared with it")
    return dict(sequence_pooling=DINSequencePooling(
                    target_key=features.item_key, sequence_names=sequences,
                    hidden_units=tuple(train.attention_units), activation=train.attention_activation),
                interaction=DeepMLP(tuple(train.deep_layers), train.dropout, name="deep"))


BUILDERS = {"dcn": _dcn, "wide_deep": _wide_deep, "din": _din}


def learning_rate(train: TrainConfig, steps_per_epoch: int | None = None):
    """``train.learning_rate``, constant or (``lr_schedule='cosine'``) decayed along a half cosine
    to 0 over the whole run (Loshchilov & Hutter 2017, without restarts): the late epochs take
    small steps, so the final model sits in a minimum instead of bouncing around it."""
    if train.lr_schedule == "constant":
        return train.learning_rate
    if train.lr_schedule == "cosine":
        if not steps_per_epoch:
            raise ValueError("lr_schedule='cosine' needs the number of steps per epoch")
        return tf.keras.optimizers.schedules.CosineDecay(train.learning_rate,
                                                         decay_steps=train.epochs * steps_per_epoch)
    raise ValueError(f"train.lr_schedule={train.lr_schedule!r}; expected 'constant' or 'cosine'")


def build_optimizer(model: Ranker, train: TrainConfig, steps_per_epoch: int | None = None):
    """Adam everywhere, except Wide&Deep's wide part, which gets FTRL as in the paper (sparse,
    per-coordinate rates suit one weight per id). ``lr_schedule`` and ``ema_momentum`` apply to
    Adam."""
    adam = tf.keras.optimizers.Adam(learning_rate(train, steps_per_epoch),
                                    **weight_average(train, steps_per_epoch))
    if model.wide is None:
        return adam
    wide_ids = {id(v) for v in model.wide.wide_variables}
    ftrl = tf.keras.optimizers.Ftrl(train.wide_learning_rate)
    return tfrs.experimental.optimizers.CompositeOptimizer([
        (ftrl, lambda: model.wide.wide_variables),
        (adam, lambda: [v for v in model.trainable_variables if id(v) not in wide_ids]),
    ])


# The initial (random) weights' share of the final average above which a run is refused.
MAX_INITIAL_SHARE = 0.01


def weight_average(train: TrainConfig, steps_per_epoch: int | None = None) -> dict:
    """Adam's arguments for an exponential moving average of the weights (``ema_momentum`` m):
    the exported model holds ``avg_t = m avg_{t-1} + (1 - m) w_t`` instead of the last step's
    weights (Polyak averaging). With a constant rate the last step's weights carry the noise of
    the last few batches; the average over the last ~1/(1-m) steps cancels it, as a seed ensemble
    would, at no serving cost.

    Keras' average starts from the initial weights and is not bias-corrected, so they keep a share
    ``m ** steps`` in the result: a run too short for its momentum is refused rather than
    exported with a trace of random weights."""
    if not train.ema_momentum:
        return {}
    m = train.ema_momentum
    if not 0.0 < m < 1.0:
        raise ValueError(f"train.ema_momentum={m}; expected 0 (off) or a value in (0, 1), e.g. 0.99")
    if steps_per_epoch:
        steps = train.epochs * steps_per_epoch
        if m ** steps > MAX_INITIAL_SHARE:
            raise ValueError(
                f"train.ema_momentum={m} averages over ~{1 / (1 - m):.0f} steps, but the run has only "
                f"{steps} ({train.epochs} epochs x {steps_per_epoch}): the initial weights would "
                f"keep {m ** steps:.1%} of the exported average (at most {MAX_INITIAL_SHARE:.0%}); "
                f"lower the momentum or train longer")
    return dict(use_ema=True, ema_momentum=m)


def finalize_weight_averages(optimizer) -> None:
    """Swaps the EMA weights (``ema_momentum``) into the model after training.

    Keras does this at the end of ``fit`` for its own optimizers, but TFRS's CompositeOptimizer
    (Wide&Deep's FTRL + Adam) is a legacy optimizer that ``fit`` skips, so its Adam is finalised
    here. A no-op for a plain optimizer (already done by ``fit``) and without EMA."""
    if isinstance(optimizer, tfrs.experimental.optimizers.CompositeOptimizer):
        for inner, variables in optimizer._optimizers_and_vars:  # (optimizer, var callable) pairs
            if getattr(inner, "use_ema", False):
                inner.finalize_variable_values(variables())


def _id_bias(train: TrainConfig, features: FeatureConfig, vocab_sizes: dict[str, int]):
    """Per-user and per-item biases ``b + b_u + b_i`` added to any model's logit (biased matrix
    factorisation's bias terms): a linear model over the two id features, trained by Adam with
    ``id_bias_l2``. Wide&Deep's wide part holds such weights already; this block is separate."""
    keys = (features.user_key, features.item_key)
    return WideLinear({k: vocab_sizes[k] for k in keys}, l2=train.id_bias_l2, name="id_bias")


def build_ranker(train: TrainConfig, features: FeatureConfig, vocab_sizes: dict[str, int]) -> Ranker:
    if train.model not in BUILDERS:
        raise ValueError(f"train.model={train.model!r}; expected one of {sorted(BUILDERS)}")
    label_key = features.label if train.label_mode == "binary" else features.rating
    if label_key is None:
        raise ValueError(f"train.label_mode='regression' needs a rating label; data set "
                         f"{features.dataset!r} has none (its feature config sets no 'rating')")
    embedding = FeatureEmbedding(features, vocab_sizes, train.embedding_dim, l2=train.embedding_l2,
                                 name="features")
    bias = _id_bias(train, features, vocab_sizes) if train.id_bias else None
    aux = {}
    if aux_label_key(train, features):
        other = "regression" if train.label_mode == "binary" else "binary"
        aux = dict(aux_task=make_task(other), aux_weight=train.aux_weight)
    return Ranker(embedding=embedding, task=make_task(train.label_mode), label_key=label_key,
                  bias=bias, **aux, **BUILDERS[train.model](train, features, vocab_sizes))


def aux_label_key(train: TrainConfig, features: FeatureConfig) -> str | None:
    """The auxiliary label of multi-task training (``aux_weight`` > 0): the other one of the
    binary label and the rating (binary mode also regresses the rating, regression mode also
    classifies rating >= 4); None without one."""
    if train.aux_weight <= 0:
        return None
    if features.rating is None:
        raise ValueError(f"train.aux_weight={train.aux_weight} needs both a binary label and a rating; "
                         f"data set {features.dataset!r} has no rating")
    return features.rating if train.label_mode == "binary" else features.label
