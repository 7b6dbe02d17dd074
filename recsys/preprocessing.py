"""The tf.Transform preprocessing, derived entirely from the feature config: ``transform_features``
is what the TFX Transform's ``preprocessing_fn`` (``components/transform.py``) runs.

Full-pass analyzers (vocabularies, quantiles, mean/variance) run once on Beam over the training
split; the resulting graph is embedded in the pushed SavedModel so serving applies the very same
mapping to raw ``tf.Example``s (no training/serving skew).

Per kind (see ``recsys/features.py``, which also names every output):
  categorical        vocabulary + OOV buckets                 -> int64 [B]
  multi_categorical  vocabulary + OOV, first max_length, pad  -> int64 [B, max_length]
  sequence           the ``vocab_from`` feature's vocabulary  -> int64 [B, max_length] (pad -1)
  time               unix seconds -> UTC hour, weekday         -> int64 [B] as ``<name>_hour``,
                                                                ``<name>_weekday``
  numeric            optional log1p, z-score                  -> float32 [B]
                     (with age_at: first max(at - x, 0) / 1 day, the age at that instant)
                     with num_buckets, quantile buckets       -> int64 [B] as ``<name>_bucket``
  multi / sequence   with match_of: share of the first         -> float32 [B] as ``<name>_match``
                     max_length values equal to that feature's
  [[cross]]          hashed cross of single-valued features   -> int64 [B] as ``cross_a_x_b``
Labels pass through as float32. For retrieval, the raw item key also passes through (as
``CATALOG_ITEM_KEY``: the exported index names items by it, including items that are only in the
eval split), and a second vocabulary of the item key stores each item's interaction count
(``ITEM_COUNTS_VOCAB``: the logQ correction's sampling probabilities).

Cold-start marks (``FeatureConfig.cold_slices``): per example, whether its user / item had any
training interaction (``COLD`` | ``WARM``), from a vocabulary of the ids of the training split's
interactions. Transform analyses only the training split, so this is "cold relative to what the
models were trained on" for every split and at serving, with no list kept by hand; TFMA slices on
it. Evaluation only: not a model input.

Every raw model feature also passes through unchanged under ``raw_key(name)`` (its raw dtype;
multi-valued ones as their first ``max_length`` values padded with ""/0 to [B, max_length]): the
retrieval index returns the raw item attributes of its candidates, and both Trainers rebuild real
raw eval requests from them for TF Serving's warmup file. None of these (``passthrough_keys``) is a
model input.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf
import tensorflow_transform as tft

from recsys.features import (CATALOG_ITEM_KEY, COLD, ITEM_COUNTS_VOCAB, PAD_ID, WARM, Feature,
                             FeatureConfig, raw_key)


def _dense_scalar(x, default):
    """[B], [B, 1] or a SparseTensor of at most one value per row -> dense [B]."""
    if isinstance(x, tf.SparseTensor):
        x = tf.sparse.to_dense(tf.sparse.reset_shape(x, [x.dense_shape[0], 1]), default_value=default)
    if x.shape.rank == 2:
        x = tf.squeeze(x, axis=1)
    return x


def _first_k(x: tf.SparseTensor, k: int) -> tf.SparseTensor:
    """Keep the first ``k`` values of each row (history is stored most recent first)."""
    if not isinstance(x, tf.SparseTensor):
        x = tf.sparse.from_dense(x)
    batch = x.dense_shape[0]
    sliced = tf.sparse.slice(x, [0, 0], tf.stack([batch, tf.constant(k, tf.int64)]))
    return tf.SparseTensor(sliced.indices, sliced.values, tf.stack([batch, tf.constant(k, tf.int64)]))


def _pad(ids: tf.SparseTensor, k: int) -> tf.Tensor:
    return tf.reshape(tf.sparse.to_dense(ids, default_value=PAD_ID), [-1, k])


def _raw_passthrough(x, f: Feature) -> tf.Tensor:
    """The raw values as Transform received them: [B], or [B, max_length] padded with ""/0."""
    default = "" if x.dtype == tf.string else tf.zeros([], x.dtype)
    if f.is_varlen:
        first = _first_k(x, f.max_length)
        return tf.reshape(tf.sparse.to_dense(first, default_value=default), [-1, f.max_length])
    return _dense_scalar(x, default)


def match_share(values, target, k: int) -> tf.Tensor:
    """Per row, the share of the first ``k`` of ``values`` (sparse or dense [B, n]) equal to
    ``target`` [B]; 0 for an empty row. Stateless (no analyzer), so serving computes the same."""
    first = _first_k(values, k)
    row = first.indices[:, 0]
    hit = tf.cast(tf.equal(first.values, tf.gather(target, row)), tf.float32)
    rows = tf.shape(target, out_type=tf.int64)[0]
    hits = tf.math.unsorted_segment_sum(hit, row, rows)
    count = tf.math.unsorted_segment_sum(tf.ones_like(hit), row, rows)
    return hits / tf.maximum(count, 1.0)


def _vocab_kwargs(f: Feature) -> dict[str, Any]:
    return dict(top_k=f.top_k, frequency_threshold=f.frequency_threshold or None,
                vocab_filename=f.vocab_name)


def _cold_mark(x, f: Feature, interacted: tf.Tensor, name: str) -> tf.Tensor:
    """``COLD`` / ``WARM`` per example: is id ``x`` (of feature ``f``) among the ids of the
    training split's interactions (``interacted`` [B])? The vocabulary is analysed over those ids
    only, as a SparseTensor, rather than weighted by the label: a weighted vocabulary keeps ids of
    weight 0 (shown, never clicked), and its frequency threshold warns it is a no-op at 1."""
    x = _dense_scalar(x, "" if f.dtype == "string" else 0)
    x = x if x.dtype == tf.string else tf.strings.as_string(x)
    positions = tf.where(interacted)
    trained = tft.vocabulary(
        tf.SparseTensor(tf.concat([positions, tf.zeros_like(positions)], axis=1),
                        tf.gather_nd(x, positions), tf.stack([tf.size(x, tf.int64), tf.constant(1, tf.int64)])),
        vocab_filename=f"{name}_interactions")
    known = tft.apply_vocabulary(x, trained, default_value=-1) >= 0
    return tf.where(known, WARM, COLD)


def transform_features(inputs: dict[str, Any], config: FeatureConfig) -> dict[str, tf.Tensor]:
    """The Transform outputs of raw ``inputs`` (a batch as tf.Transform passes it) under ``config``:
    every feature per its kind, the crosses, the labels and the pass-through outputs (module
    docstring). Analyzers are tf.Transform's, so this runs inside a Transform/Beam context."""
    outputs: dict[str, tf.Tensor] = {}
    vocab_files: dict[str, Any] = {}
    cross_parts: dict[str, tf.Tensor] = {}  # single-valued features as strings, for crosses
    # Owners first, so a ``vocab_from`` feature finds its vocabulary's deferred file name.
    ordered = sorted(config.features, key=lambda f: f.vocab_from is not None)
    for f in ordered:
        if f.name not in inputs:
            raise KeyError(f"feature {f.name!r} of the feature config is not in the data's schema; "
                           f"schema has {sorted(inputs)}")
        x = inputs[f.name]
        if raw_key(f.name) in inputs:
            raise ValueError(f"feature {f.name!r}: its pass-through name {raw_key(f.name)!r} is "
                             "also a raw feature; rename that feature")
        outputs[raw_key(f.name)] = _raw_passthrough(x, f)
        if f.kind == "time":
            # Stateless: no analyzer, the same arithmetic at serving (1970-01-01 was a Thursday).
            seconds = tf.cast(_dense_scalar(x, 0), tf.int64)
            hour, weekday = f.time_parts  # the contract names the outputs (TIME_PARTS order)
            outputs[hour] = tf.math.floormod(seconds // 3600, 24)
            outputs[weekday] = tf.math.floormod(seconds // 86400 + 3, 7)
            continue
        if f.kind == "numeric":
            if f.age_at:
                # Stateless and per example, so serving takes the age at each request's own time.
                at = _dense_scalar(inputs[f.age_at], 0)
                x = tf.maximum(tf.cast(at, tf.int64) - tf.cast(_dense_scalar(x, 0), tf.int64), 0)
                x = tf.cast(x, tf.float32) / 86400.0
            x = tf.cast(_dense_scalar(x, 0), tf.float32)
            if f.log1p:
                x = tf.math.log1p(tf.maximum(x, 0.0))
            outputs[f.name] = tft.scale_to_z_score(x)
            if f.num_buckets:
                outputs[f.bucket_key] = tft.bucketize(x, f.num_buckets)
                cross_parts[f.name] = tf.strings.as_string(outputs[f.bucket_key])
            continue
        if f.is_varlen:
            x = _first_k(x, f.max_length)
        else:
            x = _dense_scalar(x, "" if f.dtype == "string" else 0)
            cross_parts[f.name] = x if f.dtype == "string" else tf.strings.as_string(x)
        if f.vocab_from:
            owner = config[f.vocab_from]
            ids = tft.apply_vocabulary(x, vocab_files[f.vocab_from], num_oov_buckets=owner.num_oov_buckets)
        else:
            vocab_files[f.name] = tft.vocabulary(x, **_vocab_kwargs(f))
            ids = tft.apply_vocabulary(x, vocab_files[f.name], num_oov_buckets=f.num_oov_buckets)
        outputs[f.name] = _pad(ids, f.max_length) if f.is_varlen else ids
    for f in config.features:
        if f.match_of:  # on the raw values: no vocabulary needed to compare them
            target = _dense_scalar(inputs[f.match_of], "" if f.dtype == "string" else 0)
            outputs[f.match_key] = match_share(inputs[f.name], target, f.max_length)
    for cross in config.crosses:
        # Stateless hashing: no vocabulary pass, and unseen combinations still get a bucket.
        joined = tf.strings.join([cross_parts[n] for n in cross.features], separator="\x1f")
        outputs[cross.name] = tf.strings.to_hash_bucket_fast(joined, cross.hash_buckets)
    outputs[config.label] = tf.cast(_dense_scalar(inputs[config.label], 0), tf.float32)
    item = _dense_scalar(inputs[config.item_key], "" if config[config.item_key].dtype == "string" else 0)
    item = item if item.dtype == tf.string else tf.strings.as_string(item)
    outputs[CATALOG_ITEM_KEY] = item
    # Weighted by the label when only positives are interactions: q(item) over what retrieval
    # trains on, not over impressions.
    weights = outputs[config.label] if config.interactions == "label" else None
    tft.vocabulary(item, vocab_filename=ITEM_COUNTS_VOCAB, store_frequency=True, weights=weights)
    interacted = weights > 0 if weights is not None else tf.ones_like(item, tf.bool)
    for name, key in config.cold_slices.items():
        outputs[name] = _cold_mark(inputs[key], config[key], interacted, name)
    if config.rating:
        outputs[config.rating] = tf.cast(_dense_scalar(inputs[config.rating], 0.0), tf.float32)
    if config.conversion:
        outputs[config.conversion] = tf.cast(_dense_scalar(inputs[config.conversion], 0), tf.float32)
    return outputs
