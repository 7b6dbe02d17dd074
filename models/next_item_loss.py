"""SASRec's all-positions next-item loss (Kang & McAuley 2018, https://arxiv.org/abs/1808.09781,
section III-E): every position of the history is trained to predict the item that came after it,
not only the newest position (which the two-tower loss trains through the query tower).

Layout (``models/sasrec.py``): histories are most recent first, so position ``i``'s output is
computed from the items at ``i`` and older, and the item that came right after them is the
history's item at ``i - 1``. Position 0's next item is the example's candidate, which the main
Retrieval loss already scores; this loss covers positions ``1 .. L - 1`` whose item is real.

Scoring, as in the paper: the position's output (the encoder's width d) dotted with the target's
row of the item-id table the history shares with the candidate tower (``inputs.FeatureEmbedding``:
``vocab_from = "item_id"``). No temperature or normalisation: the outputs come out of a LayerNorm
and the table is what the encoder reads, which is the paper's shared-embedding prediction layer.

Negatives: an in-batch softmax over the batch's **distinct** target items (every valid position's
target, padding left out). Distinct, because with B x (L - 1) targets a popular item would fill
hundreds of columns; with each item once, the only column holding a position's target is the
positive, so there is no accidental hit left to remove. logQ: an item is in that set with
probability ``1 - (1 - q)^N`` for N targets drawn with the item's interaction share ``q`` (the
expected count TensorFlow's unique candidate samplers use); its log is subtracted from the logits
so popular items are not over-penalised as negatives (Yi et al. 2019, as the main loss does).

Scale: the per-position cross-entropies are averaged over the valid positions (each position
counts alike, as in the paper) and multiplied by the batch size, so a weight of 1 puts this loss
on the scale of TFRS' Retrieval loss, which sums over the batch's examples.
"""

from __future__ import annotations

import tensorflow as tf


def all_positions_loss(outputs: tf.Tensor, mask: tf.Tensor, ids: tf.Tensor, table: tf.Tensor,
                       item_probability: tf.Tensor | None = None) -> tf.Tensor:
    """The next-item softmax loss of positions 1 .. L - 1 (a scalar).

    Args:
      outputs: [B, L, d] every position's encoder output, most recent first.
      mask: [B, L] which positions hold a real item (padding at the end).
      ids: [B, L] the history's item ids (the real ones: targets are the items that came next).
      table: [V, d] the item-id embedding table the history is looked up in.
      item_probability: [V] each item's share of training interactions; None: no logQ.
    """
    valid = tf.logical_and(tf.cast(mask[:, 1:], tf.bool), tf.cast(mask[:, :-1], tf.bool))
    queries = tf.boolean_mask(tf.cast(outputs[:, 1:], tf.float32), valid)  # [N, d]
    targets = tf.boolean_mask(ids[:, :-1], valid)  # [N]: the item after each position
    candidates, label = tf.unique(targets)  # [U] distinct items; label: each target's column
    logits = tf.matmul(queries, tf.cast(tf.gather(table, candidates), tf.float32), transpose_b=True)
    if item_probability is not None:
        n = tf.cast(tf.size(targets), tf.float32)
        q = tf.gather(item_probability, candidates)
        # log(1 - (1 - q)^N), computed stably; q clipped as TFRS clips the main loss' probability.
        included = -tf.math.expm1(n * tf.math.log1p(-tf.clip_by_value(q, 1e-6, 1.0 - 1e-6)))
        logits -= tf.math.log(included)[None, :]
    # The cross-entropy by hand: the fused op refuses a batch with no target ([0, 0] logits).
    losses = tf.reduce_logsumexp(logits, axis=1) - tf.gather(logits, label, batch_dims=1)
    batch = tf.cast(tf.shape(outputs)[0], tf.float32)
    return tf.math.divide_no_nan(tf.reduce_sum(losses), tf.cast(tf.size(losses), tf.float32)) * batch
