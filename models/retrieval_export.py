"""The retrieval SavedModel: query tower + Transform graph + the embedded catalogue, top-K by exact
search, built from stock TF ops only (MatMul, lookup tables, TopKV2, Gather), so stock TF Serving
loads it.

Signatures ``serving_default``, ``serving_exclude`` and ``serving_raw`` all return, best first:

* ``item_ids`` [B, K] string: the raw item keys;
* ``scores`` [B, K] float32;
* one output per raw item-side feature of the feature config other than the item key, named by
  the raw feature and in the raw dtype the ranker's ``serving_raw`` takes: scalar features
  [B, K] (e.g. ``item_category`` string, ``item_price`` float32, an int64 feature int64),
  multi-valued ones [B, K, M] string padded with "" (M = the feature's ``max_length``). So a
  two-stage service sends the candidates straight to the ranker's ``serving_raw``, no item store.
  An item's attributes are those of its first example in the Trainer's data (train split first),
  the same example its candidate embedding was computed from.

Fewer than K remaining items (tiny catalogue, long exclusion list) pad the tail: item id "",
score -1e9, attributes ""/0.

* ``serving_default``  ``examples``: serialized ``tf.Example`` s holding the user's features.
* ``serving_exclude``  ``examples`` plus ``exclude`` [B, N] item keys never to return (already
                       seen/bought; pad rows with ""; unknown keys are ignored).
* ``serving_raw``      one tensor per raw query feature (as the ranker's ``serving_raw``) plus
                       ``exclude``. An empty batch gives empty outputs.
* ``query_embedding``  ``examples`` -> ``embedding`` [B, d] (for an external ANN index).

``save`` also writes TF Serving's warmup file (``serving/warmup.py``) from real raw examples:
``serving_default`` and ``serving_exclude`` with 1 and ``WARMUP_BATCH`` queries, ``serving_raw``
with a few.

Why exact search rather than ScaNN: ScaNN's custom op does not load in stock TF Serving, and a
[B, d] x [d, N] product over a catalogue of 10^5 items is milliseconds on a CPU. The whole-matrix
product holds a [B, N] score matrix per request (TFRS ``BruteForce`` does the same): 128 MB for a
batch of 32 over 1M items. With ``block_size`` (``retrieval.index_block_size``) the catalogue is
scored in blocks of that many rows inside a ``tf.while_loop``, each block's top-K merged into a
running top-K, so a request holds O(B x block) scores; the result is the same exact top-K, ties
included (lower catalogue row first). ScaNN's recall against exact search is measured by
``benchmarks/scale.py index`` as the alternative for an external ANN service fed from the
``query_embedding`` signature.

Large catalogues (items beyond the item vocabulary's ``top_k``): the catalogue still holds every
distinct item of the data under its raw key, each scored through the candidate tower from its own
attributes; items that share a hashed OOV id bucket share that id's embedding but differ by their
attributes, and are returned under their own keys.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from recsys.models.export import (WARMUP_BATCH, WARMUP_RAW_INSTANCES, as_matrix, cycle, parse_raw,
                           raw_input_signature, raw_instances, serialize_examples,
                           serving_feature_spec)
from recsys.features import FeatureConfig
from recsys.serving.warmup import write_warmup

MASKED = -1e9  # score of an excluded item: below any cosine / temperature score
OUTPUTS = ("item_ids", "scores")  # besides one output per raw item attribute


class RetrievalIndex(tf.Module):
    """Exact top-K over ``catalog_embeddings`` [N, d] for a query tower's output."""

    def __init__(self, query_tower, tft_layer, catalog_ids: np.ndarray, catalog_embeddings: np.ndarray,
                 k: int, attributes: dict[str, np.ndarray] | None = None, block_size: int = 0):
        """``attributes``: raw item feature name -> its values per catalogue row ([N] or [N, M]),
        returned for the top-K items under that name. ``block_size`` > 0: score the catalogue in
        blocks of that many items (module docstring); 0: one [B, N] product."""
        super().__init__()
        if block_size < 0:
            raise ValueError(f"retrieval index: block_size = {block_size!r}; expected 0 (whole "
                             "matrix) or a positive number of catalogue rows per block")
        if len(catalog_ids) != len(catalog_embeddings):
            raise ValueError(f"catalogue: {len(catalog_ids)} ids but {len(catalog_embeddings)} embeddings")
        attributes = attributes or {}
        for name, values in attributes.items():
            if name in OUTPUTS or len(values) != len(catalog_ids):
                raise ValueError(f"catalogue attribute {name!r}: {len(values)} rows for "
                                 f"{len(catalog_ids)} items; expected one per item and a name "
                                 f"other than {OUTPUTS}")
        self.query_tower = query_tower
        self.tft_layer = tft_layer
        self.k = int(min(k, len(catalog_ids)))
        # Blocks only when there is more than one: a small catalogue keeps the one-product graph.
        self.block_size = int(block_size) if 0 < block_size < len(catalog_ids) else 0
        self.size = len(catalog_ids)
        self.item_ids = tf.Variable(np.asarray(catalog_ids, dtype=object).astype(bytes), trainable=False,
                                    dtype=tf.string, name="catalog_item_ids")
        self.embeddings = tf.Variable(catalog_embeddings.astype(np.float32), trainable=False,
                                      name="catalog_embeddings")
        self.rows = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(np.asarray(catalog_ids, dtype=object).astype(bytes)),
                tf.range(len(catalog_ids), dtype=tf.int64)), default_value=-1)
        # Variables, like the ids: one copy in the SavedModel's variables, gathered per request.
        self.attributes = {
            name: tf.Variable(values.astype(bytes) if values.dtype.kind in "OSU" else values,
                              trainable=False, name=f"catalog_{name}")
            for name, values in sorted(attributes.items())}

    def query(self, transformed) -> tf.Tensor:
        return self.query_tower(transformed, training=False)

    def _masked(self, scores: tf.Tensor, rows: tf.Tensor | None, start=0) -> tf.Tensor:
        """``scores`` [B, n] of catalogue rows ``start``.. with the excluded ``rows`` [B, M]
        (catalogue rows, -1 for "" and unknown keys) set to ``MASKED``."""
        if rows is None:
            return scores
        rows = rows - tf.cast(start, rows.dtype)
        hit = tf.where((rows >= 0) & (rows < tf.cast(tf.shape(scores)[1], rows.dtype)))
        cols = tf.gather_nd(rows, hit)
        return tf.tensor_scatter_nd_update(
            scores, tf.stack([hit[:, 0], cols], axis=1),
            tf.fill(tf.shape(cols), tf.constant(MASKED, scores.dtype)))

    def _blocked_top_k(self, query: tf.Tensor, rows: tf.Tensor | None) -> tuple[tf.Tensor, tf.Tensor]:
        """Exact top-K over blocks of ``block_size`` catalogue rows, merged as they come: the
        running K come first in each merge, so equal scores keep the lower row (as one top_k)."""
        block, k = self.block_size, self.k
        batch = tf.shape(query)[0]

        def step(start, values, indices):
            size = tf.minimum(block, self.size - start)
            emb = self.embeddings[start:start + size]
            scores = self._masked(tf.matmul(query, emb, transpose_b=True), rows, start)
            top_v, top_i = tf.math.top_k(scores, k=tf.minimum(k, size))
            merged_v = tf.concat([values, top_v], axis=1)
            merged_i = tf.concat([indices, top_i + start], axis=1)
            best_v, at = tf.math.top_k(merged_v, k=k)
            return start + block, best_v, tf.gather(merged_i, at, batch_dims=1)

        # Start from K padding entries scored below MASKED, so they lose to any real item.
        values = tf.fill(tf.stack([batch, k]), tf.constant(2 * MASKED, query.dtype))
        indices = tf.zeros(tf.stack([batch, k]), tf.int32)
        _, values, indices = tf.while_loop(
            lambda start, *_: start < self.size, step, (tf.constant(0), values, indices),
            shape_invariants=(tf.TensorShape([]), tf.TensorShape([None, k]), tf.TensorShape([None, k])))
        return values, indices

    def top_k(self, query: tf.Tensor, exclude: tf.Tensor | None = None) -> dict[str, tf.Tensor]:
        rows = None if exclude is None else self.rows.lookup(exclude)  # [B, M]; unknown -> -1
        if self.block_size:
            values, indices = self._blocked_top_k(query, rows)
        else:
            scores = self._masked(tf.matmul(query, self.embeddings, transpose_b=True), rows)  # [B, N]
            values, indices = tf.math.top_k(scores, k=self.k)
        # When fewer than K items remain after exclusion, the tail is padding: "" ids, never an
        # excluded item.
        kept = values > MASKED / 2
        ids = tf.where(kept, tf.gather(self.item_ids, indices), "")
        out = {"item_ids": ids, "scores": tf.where(kept, values, tf.constant(MASKED, values.dtype))}
        for name, table in self.attributes.items():
            got = tf.gather(table, indices)  # [B, K] or [B, K, M]
            mask = kept if got.shape.rank == 2 else kept[:, :, tf.newaxis]
            out[name] = tf.where(mask, got, tf.zeros_like(got))  # padding: "" / 0
        return out


def make_signatures(index: RetrievalIndex, tf_transform_output, features: FeatureConfig,
                    query_names: tuple[str, ...]) -> dict:
    raw_spec = query_spec(tf_transform_output, features, query_names)
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
        return index.top_k(index.query(transformed(examples)), as_matrix(exclude))

    @tf.function(input_signature=list(raw_inputs.values()) + [exclude])
    def serve_raw(*tensors):
        *features_, exclude_ = tensors
        parsed = parse_raw(dict(zip(raw_inputs, features_)), raw_spec)
        return index.top_k(index.query(index.tft_layer(parsed)), as_matrix(exclude_))

    @tf.function(input_signature=[examples])
    def query_embedding(examples):
        return {"embedding": index.query(transformed(examples))}

    return {"serving_default": serve.get_concrete_function(),
            "serving_exclude": serve_exclude.get_concrete_function(),
            "serving_raw": serve_raw.get_concrete_function(),
            "query_embedding": query_embedding.get_concrete_function()}


def query_spec(tf_transform_output, features: FeatureConfig, query_names: tuple[str, ...]) -> dict:
    """The raw spec of the query features (what the retriever's signatures parse)."""
    return {n: s for n, s in serving_feature_spec(tf_transform_output, features).items()
            if n in query_names}


def warmup_requests(rows: list[dict], spec, item_key: str) -> list[tuple[str, dict[str, np.ndarray]]]:
    """The retriever's warmup from raw rows: ``serving_default`` and ``serving_exclude`` with 1
    and ``WARMUP_BATCH`` queries, ``serving_raw`` with a few; each query excludes its own item."""
    def exclude(rs):
        keys = [np.asarray(r[item_key]).reshape(-1)[0] for r in rs]
        return np.array([[k if isinstance(k, bytes) else str(k).encode()] for k in keys], dtype=object)

    requests = []
    for n in (1, WARMUP_BATCH):
        rs = cycle(rows, n)
        requests.append(("serving_default", {"examples": serialize_examples(rs, spec)}))
        requests.append(("serving_exclude", {"examples": serialize_examples(rs, spec),
                                             "exclude": exclude(rs)}))
    rs = cycle(rows, WARMUP_RAW_INSTANCES)
    requests.append(("serving_raw", {**raw_instances(rs, spec), "exclude": exclude(rs)}))
    return requests


def save(index: RetrievalIndex, tf_transform_output, features: FeatureConfig,
         query_names: tuple[str, ...], path: str, warmup_rows: list[dict]) -> None:
    """The SavedModel with its signatures, then its warmup file from ``warmup_rows`` (raw eval
    examples: feature name -> value, multi-valued features as unpadded lists)."""
    tf.saved_model.save(index, path,
                        signatures=make_signatures(index, tf_transform_output, features, query_names))
    spec = query_spec(tf_transform_output, features, query_names)
    write_warmup(path, warmup_requests(warmup_rows, spec, features.item_key))
