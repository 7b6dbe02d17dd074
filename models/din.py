"""DIN: Deep Interest Network target attention (Zhou et al. 2018, https://arxiv.org/abs/1706.06978).

A user's behaviour history is not pooled to one fixed vector: each candidate item re-weights the
history by how relevant every past behaviour is to it (the paper's "local activation unit"):

    v_U(t) = sum_j a(h_j, t) * h_j,     a(h_j, t) = MLP([h_j, t, h_j - t, h_j * t])   (Eq. 3)

The weights are *not* softmax-normalised in the paper: their sum keeps the intensity of the user's
interest in ``t``. ``normalize='softmax'`` is offered because the authors' released code uses it.

The MLP uses Dice, the paper's data-adaptive activation (Eq. 9):

    f(s) = p(s) * s + (1 - p(s)) * alpha * s,    p(s) = sigmoid((s - E[s]) / sqrt(Var[s] + eps))

``DINSequencePooling`` plugs this into ``models.ranking.Ranker`` as its ``sequence_pooling`` block:
one attention unit per behaviour sequence, each queried by the candidate's feature in the
sequence's own embedding space: the clicked items by the candidate item, the clicked items'
categories by the candidate's category (the paper attends over goods and category ids alike).
"""

from __future__ import annotations

from typing import Mapping, Sequence

import tensorflow as tf

keras = tf.keras

NORMALIZATIONS = (None, "softmax")


class Dice(keras.layers.Layer):
    """Data-adaptive activation of DIN (paper Sec. 4.3, Eq. 9).

    ``f(s) = p(s) * s + (1 - p(s)) * alpha * s`` with ``p(s) = sigmoid(BN(s))``, where BN is a
    batch normalisation without learned scale or offset: the rectifier's switch point moves with
    the input distribution instead of sitting at 0 as in PReLU. ``alpha`` (one per unit) starts at
    0, so a fresh Dice is ``p(s) * s``.

    Args:
      epsilon: BN's variance epsilon; the paper uses 1e-8.
      momentum: BN's moving-statistics momentum (inference uses the moving mean/variance).

    Call args:
      inputs: [..., H] pre-activations.
      training: batch statistics (True) or moving statistics (False).
      mask: optional bool [...] without the last axis; only True positions enter the batch
        statistics, so padded sequence positions cannot shift the switch point.

    Returns:
      A tensor shaped and typed like ``inputs``.
    """

    def __init__(self, epsilon: float = 1e-8, momentum: float = 0.99, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon
        self.momentum = momentum
        # float32 on purpose: 16-bit moments are fragile, and Keras' masked BN casts the mask to
        # its compute dtype while computing moments in float32 (a dtype clash under mixed
        # precision). fused=False: the fused kernel ignores the mask.
        self.bn = keras.layers.BatchNormalization(axis=-1, center=False, scale=False,
                                                  epsilon=epsilon, momentum=momentum,
                                                  fused=False, dtype="float32", name="bn")

    def build(self, input_shape):
        self.alpha = self.add_weight(name="alpha", shape=(input_shape[-1],),
                                     initializer="zeros", trainable=True)
        super().build(input_shape)

    def call(self, inputs, training=None, mask=None):
        p = tf.sigmoid(self.bn(tf.cast(inputs, tf.float32), training=training, mask=mask))
        p = tf.cast(p, inputs.dtype)
        return p * inputs + (1.0 - p) * self.alpha * inputs

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon, "momentum": self.momentum}


class TargetAttention(keras.layers.Layer):
    """DIN's local activation unit: candidate-weighted sum of a behaviour sequence (Eq. 3).

    ``score_j = MLP([h_j, t, h_j - t, h_j * t])`` (hidden layers, then a linear unit), then

    * ``normalize=None`` (paper): ``w_j = score_j`` for valid positions, 0 for padding;
    * ``normalize='softmax'``: ``w = softmax(score)`` with padded scores set to -inf first;

    and the output is ``sum_j w_j h_j``. Padding can never leak in: padded history vectors are
    zeroed before the MLP (so arbitrary pad values cannot make inf/NaN) and their weights are
    selected away, not multiplied by 0. A row with no valid position returns zeros.

    Args:
      hidden_units: widths of the MLP's hidden layers; the paper's figure uses (36,). ``()``
        gives a linear score.
      activation: 'dice' (the paper) or any Keras activation name ('sigmoid', 'relu', ...).
      normalize: None (raw weights, the paper) or 'softmax'.
      dice_epsilon: Dice's BN epsilon.

    Call args:
      target: [B, d] candidate embedding (the query).
      history: [B, L, d] behaviour embeddings, in the same space as ``target``.
      mask: bool [B, L], True where ``history`` holds a real behaviour.
      training: passed to Dice (batch vs moving statistics).

    Returns:
      [B, d] the user's interest representation for this candidate.
    """

    def __init__(self, hidden_units: Sequence[int] = (36,), activation: str = "dice",
                 normalize: str | None = None, dice_epsilon: float = 1e-8, **kwargs):
        super().__init__(**kwargs)
        if normalize not in NORMALIZATIONS:
            raise ValueError(f"normalize={normalize!r}; expected one of {NORMALIZATIONS}")
        self.hidden_units = tuple(int(u) for u in hidden_units)
        self.activation = activation
        self.normalize = normalize
        self.dice_epsilon = dice_epsilon
        dice = activation == "dice"
        # Dice needs the mask (for its batch statistics), so it is a layer of its own after a
        # linear Dense; any other activation lives inside the Dense.
        self.hidden = [keras.layers.Dense(u, activation=None if dice else activation,
                                          name=f"hidden_{i}")
                       for i, u in enumerate(self.hidden_units)]
        self.dice = ([Dice(epsilon=dice_epsilon, name=f"dice_{i}")
                      for i in range(len(self.hidden_units))] if dice else [])
        self.score = keras.layers.Dense(1, name="score")

    def attention_weights(self, target: tf.Tensor, history: tf.Tensor, mask: tf.Tensor,
                          training=None) -> tf.Tensor:
        """The weights ``w`` [B, L] (0 at padding); see the class docstring."""
        history, mask = self._masked_history(target, history, mask)
        return self._weights(tf.cast(target, history.dtype), history, mask, training)

    def call(self, target, history, mask, training=None):
        history, mask = self._masked_history(target, history, mask)
        w = self._weights(tf.cast(target, history.dtype), history, mask, training)
        return tf.reduce_sum(w[..., None] * history, axis=1)

    def _masked_history(self, target, history, mask):
        if target.shape[-1] is not None and history.shape[-1] is not None \
                and target.shape[-1] != history.shape[-1]:
            raise ValueError(f"target dim {target.shape[-1]} != history dim {history.shape[-1]}: "
                             f"DIN compares the candidate with the history in one embedding space")
        history = tf.cast(history, self.compute_dtype)
        mask = tf.cast(mask, tf.bool)
        # Zero padded vectors: whatever a pad holds (row 0's embedding, inf, NaN) stays out.
        return tf.where(mask[..., None], history, tf.zeros_like(history)), mask

    def _weights(self, target, history, mask, training):
        t = tf.broadcast_to(target[:, None, :], tf.shape(history))
        z = tf.concat([history, t, history - t, history * t], axis=-1)  # [B, L, 4d]
        for i, dense in enumerate(self.hidden):
            z = dense(z)
            if self.dice:
                z = self.dice[i](z, training=training, mask=mask)
        logits = tf.squeeze(self.score(z), axis=-1)  # [B, L]
        zeros = tf.zeros_like(logits)
        if self.normalize is None:
            return tf.where(mask, logits, zeros)
        # -inf on pads gives them exactly 0 weight. A row with no valid position is
        # softmax(-inf, ..., -inf) = NaN; both tf.where *select* (never multiply), so that NaN
        # reaches neither the output (zeros) nor the gradient (its upstream is selected to 0).
        neg_inf = tf.fill(tf.shape(logits), tf.constant(-float("inf"), logits.dtype))
        weights = tf.nn.softmax(tf.where(mask, logits, neg_inf), axis=-1)
        return tf.where(mask, weights, zeros)

    def get_config(self):
        return {**super().get_config(), "hidden_units": self.hidden_units,
                "activation": self.activation, "normalize": self.normalize,
                "dice_epsilon": self.dice_epsilon}


class DINSequencePooling(keras.layers.Layer):
    """``Ranker.sequence_pooling`` block: each sequence attended by the candidate (``target_key``).

    ``pooled[name] = TargetAttention_name(vectors[target(name)], values, mask)`` for every
    sequence; each sequence gets its own attention unit (its own MLP), since e.g. clicks and
    purchases relate to the candidate differently.

    Args:
      target_key: the candidate feature in ``vectors`` (e.g. 'item_id') that queries every
        sequence, or a mapping sequence name -> candidate feature (``{"history": "item_id",
        "history_category": "item_category"}``). A sequence must share its target's embedding
        table (``vocab_from``) so that the MLP compares like with like.
      sequence_names: create the units up front for these sequences; None: the mapping's keys,
        or one per sequence of the first call.
      **attention_kwargs: passed to every ``TargetAttention``.

    Call args:
      sequences: name -> {"values": [B, L, d], "mask": bool [B, L]} (``FeatureEmbedding``).
      vectors: name -> [B, d]; must hold every sequence's target.
      training: passed to the attention units (Keras propagates the Ranker's value).

    Returns:
      name -> [B, d] for every sequence.
    """

    def __init__(self, target_key: str | Mapping[str, str],
                 sequence_names: Sequence[str] | None = None, **attention_kwargs):
        layer_kwargs = {k: attention_kwargs.pop(k) for k in ("name", "dtype", "trainable")
                        if k in attention_kwargs}
        super().__init__(**layer_kwargs)
        self.target_key = target_key if isinstance(target_key, str) else dict(target_key)
        self.attention_kwargs = attention_kwargs
        if sequence_names is None and isinstance(self.target_key, dict):
            sequence_names = sorted(self.target_key)
        self.sequence_names = tuple(sequence_names) if sequence_names else None
        self.attention: dict[str, TargetAttention] = {}
        for name in self.sequence_names or ():
            self._add_unit(name)

    def _add_unit(self, name: str) -> None:
        self.attention[name] = TargetAttention(name=f"attention_{name}", **self.attention_kwargs)

    def build(self, input_shape):
        # input_shape mirrors `sequences`: its keys are the sequence names.
        if not self.attention:
            for name in sorted(input_shape):
                self._add_unit(name)
        super().build(input_shape)

    def target(self, sequence: str) -> str:
        """The candidate feature that queries ``sequence``."""
        if isinstance(self.target_key, str):
            return self.target_key
        if sequence not in self.target_key:
            raise KeyError(f"target_key has no candidate feature for sequence {sequence!r}; "
                           f"expected one of {sorted(self.target_key)}")
        return self.target_key[sequence]

    def call(self, sequences, vectors, training=None):
        unknown = sorted(set(sequences) - set(self.attention))
        if unknown:
            raise ValueError(f"sequences {unknown} have no attention unit; units: "
                             f"{sorted(self.attention)}")
        out = {}
        for name, s in sequences.items():
            key = self.target(name)
            if key not in vectors:
                raise KeyError(f"target_key {key!r} (of sequence {name!r}) is not among the "
                               f"embedded vectors {sorted(vectors)}")
            out[name] = self.attention[name](vectors[key], s["values"], s["mask"], training=training)
        return out

    def get_config(self):
        return {**super().get_config(), "target_key": self.target_key,
                "sequence_names": self.sequence_names, **self.attention_kwargs}
