"""Optimizers of the rankers: Adam (constant or cosine-decayed rate, optional weight EMA), with
FTRL for Wide&Deep's wide part."""

from __future__ import annotations

import weakref

import tensorflow as tf
import tensorflow_recommenders as tfrs

from recsys.config import TrainConfig
from recsys.models.ranking import Ranker


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
    ftrl = tf.keras.optimizers.Ftrl(train.wide_deep.wide_learning_rate)
    deep_variables = lambda: [v for v in model.trainable_variables if id(v) not in wide_ids]  # noqa: E731
    composite = tfrs.experimental.optimizers.CompositeOptimizer([
        (ftrl, lambda: model.wide.wide_variables), (adam, deep_variables)])
    _AVERAGED[composite] = [(adam, deep_variables)]
    return composite


# CompositeOptimizer -> its (optimizer, variables) parts with a weight average, recorded when it
# is built (``finalize_weight_averages`` needs them; TFRS keeps its own list private).
_AVERAGED: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


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
    for inner, variables in _AVERAGED.get(optimizer, ()):
        if getattr(inner, "use_ema", False):
            inner.finalize_variable_values(variables())
