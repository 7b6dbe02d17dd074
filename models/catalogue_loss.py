"""Full-catalogue softmax for the two-tower retriever (``retrieval.negatives = "catalogue"``).

Every catalogue item is a negative of every query, scored by the candidate tower in the same
step: the exact softmax the in-batch loss estimates. With in-batch negatives a step sees only the
batch's items (popular ones, over and over) and the logQ correction fixes the estimate only in
expectation; sequence models in particular are reported to lose most of their edge to that
sampling (Klenitskiy & Vasilev 2023, "Turning Dross Into Gold Loss: is BERT4Rec really better
than SASRec?"; Petrov & Macdonald 2023, gSASRec), and both recover it with the full softmax.

Why not TFRS' ``Retrieval`` task: it scores queries against candidates aligned with them (the
label is the diagonal), so a catalogue would need its positives found by id, and an id can name
several catalogue rows (items beyond the vocabulary share hashed OOV buckets). Here the positive
is the example's own candidate (its features, as the in-batch loss has it) in column 0, and the
catalogue columns whose id is the example's are masked out: exactly one positive, the rest of the
catalogue as negatives, and an item sharing an OOV bucket with the positive is dropped rather
than scored as a false negative (the in-batch loss' accidental-hit removal does the same).

Cost per step: the candidate tower over the N catalogue items and a [B, N] product. Right for
catalogues of thousands (MovieLens' 1,679 items add about a batch's work); a catalogue of millions
wants ``in_batch`` (with ``uniform_negatives``).
"""

from __future__ import annotations

import tensorflow as tf


def catalogue_softmax_loss(query: tf.Tensor, positive: tf.Tensor, ids: tf.Tensor,
                           catalogue: tf.Tensor, catalogue_ids: tf.Tensor,
                           temperature: float) -> tf.Tensor:
    """The summed softmax cross-entropy of each query's positive against the whole catalogue.

    Args:
      query: [B, d] query embeddings.
      positive: [B, d] each example's candidate embedding (from its own features).
      ids: [B] each example's item id (transformed, before any OOV dropout).
      catalogue: [N, d] every catalogue item's candidate embedding.
      catalogue_ids: [N] their item ids.
      temperature: the logits are the dot products divided by it (as in the in-batch loss).

    Summed over the batch, as TFRS' Retrieval loss is, so the learning rate means the same.
    """
    query = tf.cast(query, tf.float32)
    positive_logit = tf.reduce_sum(query * tf.cast(positive, tf.float32), axis=-1, keepdims=True)
    logits = tf.matmul(query, tf.cast(catalogue, tf.float32), transpose_b=True)  # [B, N]
    logits = tf.concat([positive_logit, logits], axis=1) / temperature
    same = tf.equal(tf.reshape(tf.cast(ids, tf.int64), [-1, 1]),
                    tf.reshape(tf.cast(catalogue_ids, tf.int64), [1, -1]))
    # The positive's own catalogue row(s) leave the softmax: it is column 0 already. A large
    # finite logit, not -inf: exp underflows to 0 all the same, and no inf - inf can appear.
    masked = tf.concat([tf.zeros_like(same[:, :1]), same], axis=1)
    logits = tf.where(masked, -1e9, logits)
    labels = tf.zeros(tf.shape(query)[:1], tf.int32)
    return tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))
