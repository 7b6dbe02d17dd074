"""The retrieval SavedModel: query tower + Transform graph + the embedded catalogue, top-K by exact
search, built from stock TF ops only (MatMul, lookup tables, TopKV2), so stock TF Serving loads it.

Signatures (all return ``item_ids`` [B, K] raw item keys and ``scores`` [B, K], best first):

Fewer than K remaining items (tiny catalogue, long exclusion list) pad with "" and score -1e9.

* ``serving_default``  ``examples``: serialized ``tf.Example`` s holding the user's features.
* ``serving_exclude``  ``examples`` plus ``exclude`` [B, N] item keys never to return (already
                       seen/bought; pad rows with ""; unknown keys are ignored).
* ``serving_raw``      one tensor per raw query feature (as the ranker's ``serving_raw``) plus
                       ``exclude``.
* ``query_embedding``  ``examples`` -> ``embedding`` [B, d] (for an external ANN index).

Why exact search rather than ScaNN: ScaNN's custom op does not load in stock TF Serving, and a
[B, d] x [d, N] product over a catalogue of 10^5 items is milliseconds on a CPU.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from models.export import raw_input_signature, serving_feature_spec
from recsys.features import FeatureConfig

MASKED = -1e9  # score of an excluded item: below any cosine / temperature score


class RetrievalIndex(tf.Module):
    """Exact top-K over ``catalog_embeddings`` [N, d] for a query tower's output."""

    def __init__(self, query_tower, tft_layer, catalog_ids: np.ndarray, catalog_embeddings: np.ndarray,
                 k: int):
        super().__init__()
        if len(catalog_ids) != len(catalog_embeddings):
            raise ValueError(f"catalogue: {len(catalog_ids)} ids but {len(catalog_embeddings)} embeddings")
        self.query_tower = query_tower
        self.tft_layer = tft_layer
        self.k = int(min(k, len(catalog_ids)))
        self.item_ids = tf.Variable(np.asarray(catalog_ids, dtype=object).astype(bytes), trainable=False,
                                    dtype=tf.string, name="catalog_item_ids")
        self.embeddings = tf.Variable(catalog_embeddings.astype(np.float32), trainable=False,
                                      name="catalog_embeddings")
        self.rows = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(np.asarray(catalog_ids, dtype=object).astype(bytes)),
                tf.range(len(catalog_ids), dtype=tf.int64)), default_value=-1)

    def query(self, transformed) -> tf.Tensor:
        return self.query_tower(transformed, training=False)

    def top_k(self, query: tf.Tensor, exclude: tf.Tensor | None = None) -> dict[str, tf.Tensor]:
        scores = tf.matmul(query, self.embeddings, transpose_b=True)  # [B, N]
        if exclude is not None:
            rows = self.rows.lookup(exclude)  # [B, M]; "" and unknown keys -> -1
            hit = tf.where(rows >= 0)  # (b, m) pairs of known items
            cols = tf.gather_nd(rows, hit)
            scores = tf.tensor_scatter_nd_update(
                scores, tf.stack([hit[:, 0], cols], axis=1),
                tf.fill(tf.shape(cols), tf.constant(MASKED, scores.dtype)))
        values, indices = tf.math.top_k(scores, k=self.k)
        # When fewer than K items remain after exclusion, the tail is padding: "" ids, never an
        # excluded item.
        kept = values > MASKED / 2
        ids = tf.where(kept, tf.gather(self.item_ids, indices), "")
        return {"item_ids": ids, "scores": tf.where(kept, values, tf.constant(MASKED, values.dtype))}


def make_signatures(index: RetrievalIndex, tf_transform_output, features: FeatureConfig,
                    query_names: tuple[str, ...]) -> dict:
    raw_spec = {n: s for n, s in serving_feature_spec(tf_transform_output, features).items()
                if n in query_names}
    raw_inputs = raw_input_signature(raw_spec)
    examples = tf.TensorSpec([None], tf.string, name="examples")
    exclude = tf.TensorSpec([None, None], tf.string, name="exclude")

    def transformed(examples_):
        # Only query features are parsed; the Transform layer then computes only the outputs
        # that depend on them (item features and labels are not needed to retrieve).
        return index.tft_layer(tf.io.parse_example(examples_, raw_spec))

    @tf.function(input_signature=[examples])
    def serve(examples):
        return index.top_k(index.query(transformed(examples)))

    @tf.function(input_signature=[examples, exclude])
    def serve_exclude(examples, exclude):
        return index.top_k(index.query(transformed(examples)), exclude)

    @tf.function(input_signature=list(raw_inputs.values()) + [exclude])
    def serve_raw(*tensors):
        *features_, exclude_ = tensors
        parsed = {}
        for name, t in zip(raw_inputs, features_):
            s = raw_spec[name]
            parsed[name] = (tf.sparse.from_dense(t) if isinstance(s, tf.io.VarLenFeature)
                            else tf.reshape(t, [-1] + list(s.shape)))
        return index.top_k(index.query(index.tft_layer(parsed)), exclude_)

    @tf.function(input_signature=[examples])
    def query_embedding(examples):
        return {"embedding": index.query(transformed(examples))}

    return {"serving_default": serve.get_concrete_function(),
            "serving_exclude": serve_exclude.get_concrete_function(),
            "serving_raw": serve_raw.get_concrete_function(),
            "query_embedding": query_embedding.get_concrete_function()}


def save(index: RetrievalIndex, tf_transform_output, features: FeatureConfig,
         query_names: tuple[str, ...], path: str) -> None:
    tf.saved_model.save(index, path,
                        signatures=make_signatures(index, tf_transform_output, features, query_names))
