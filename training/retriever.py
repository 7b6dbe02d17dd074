"""Training of the two-tower retrieval model (the TFX module is ``components/retrieval_trainer.py``,
a second Trainer on the same Transform).

1. Interactions: transformed training examples (only positives when the feature config says
   ``interactions = "label"``), shuffled and batched; each is a (query, candidate) pair.
2. Item sampling probabilities for the logQ correction from Transform's interaction counts
   (``ITEM_COUNTS_VOCAB``), aligned to the item vocabulary's ids.
3. The catalogue: every distinct item of the train and eval splits with its transformed item
   features (items seen only in eval are retrievable through their attributes) and its raw item
   attributes (Transform's pass-through), which the index returns with each candidate.
4. Export: ``models/retrieval_export.py`` (query tower + Transform graph + embedded catalogue),
   with TF Serving warmup requests built from the first eval examples' raw features.
"""

from __future__ import annotations

import json
import os

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
from absl import logging

from recsys.models import retrieval_export
from recsys.models.retrieval import CANDIDATE_SIDES, TwoTowerModel, request_features, transformed_keys
from recsys.config import DistributeConfig, RetrievalConfig
from recsys.features import CATALOG_ITEM_KEY, ITEM_COUNTS_VOCAB, FeatureConfig, raw_key
from recsys.training import distribution
from recsys.training.ranker import EpochProgress, EpochTimer, fit_summary, raw_rows

keras = tf.keras


def _files(patterns) -> list[str]:
    files = []
    for pattern in patterns if isinstance(patterns, (list, tuple)) else [patterns]:
        files.extend(tf.io.gfile.glob(pattern))
    if not files:
        raise FileNotFoundError(f"no transformed examples match {patterns}")
    return sorted(files)


def interactions_dataset(file_patterns, tft_out, features: FeatureConfig, config: RetrievalConfig,
                         strategy: tf.distribute.Strategy | None = None) -> tf.data.Dataset:
    """Transformed tf.Examples -> batches of feature dicts, positives only if so configured.
    ``config.batch_size`` is the global batch; under a strategy each replica takes its share and
    its in-batch negatives come from that share (``training/distribution.py``)."""
    spec = {k: v for k, v in tft_out.transformed_feature_spec().items()
            if k not in features.passthrough_keys()}  # raw values are for the export only
    drop = set(features.label_keys)
    ds = tf.data.TFRecordDataset(_files(file_patterns), compression_type="GZIP").cache()
    ds = ds.shuffle(100_000, seed=config.seed, reshuffle_each_iteration=True)
    ds = ds.batch(config.batch_size)

    def parse(serialized):
        parsed = tf.io.parse_example(serialized, spec)
        if features.interactions == "label":
            keep = parsed[features.label] > 0
            parsed = {k: tf.boolean_mask(v, keep) for k, v in parsed.items()}
        return {k: v for k, v in parsed.items() if k not in drop}

    ds = ds.map(parse, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
    if strategy is not None:
        ds = ds.with_options(distribution.shard_options(len(_files(file_patterns)), strategy))
    return ds


def item_probabilities(tft_out, features: FeatureConfig, vocab_sizes: dict[str, int]) -> np.ndarray:
    """[item vocabulary + OOV rows] share of training interactions per transformed item id.

    Each counted item adds its count to the row Transform maps it to: its own vocabulary id, or,
    beyond the vocabulary's ``top_k`` (a large catalogue), the hashed OOV bucket it shares with
    other tail items, whose probability of being an in-batch negative is the sum of theirs. The
    bucket is then one candidate class, for the correction as for accidental-hit removal (both
    key on the transformed id), as in Yi et al. 2019's hashed frequency estimate. Rows
    with no counted interaction get half the smallest observed count, so their log-probability
    stays finite.
    """
    owner = features[features.item_key]
    tokens, counts = [], []
    with tf.io.gfile.GFile(tft_out.vocabulary_file_by_name(ITEM_COUNTS_VOCAB)) as fh:
        for line in fh:
            count, _, token = line.rstrip("\n").partition(" ")
            tokens.append(token)
            counts.append(float(count))
    observed = [c for c in counts if c > 0]
    if not observed:
        raise ValueError(f"Transform vocabulary {ITEM_COUNTS_VOCAB!r} counts no training interaction")
    key_dtype = tf.string if owner.dtype == "string" else tf.int64
    keys = tokens if owner.dtype == "string" else [int(t) for t in tokens]
    # The very table tft.apply_vocabulary builds over the vocabulary file (a StaticVocabularyTable,
    # same hash), so an item lands in the row the model sees it under.
    table = tf.lookup.StaticVocabularyTable(
        tf.lookup.TextFileInitializer(tft_out.vocabulary_file_by_name(owner.vocab_name), key_dtype,
                                      tf.lookup.TextFileIndex.WHOLE_LINE, tf.int64,
                                      tf.lookup.TextFileIndex.LINE_NUMBER),
        num_oov_buckets=owner.num_oov_buckets, lookup_key_dtype=key_dtype)
    rows = np.zeros(vocab_sizes[features.item_key], np.float64)
    if keys:
        np.add.at(rows, table.lookup(tf.constant(keys, key_dtype)).numpy(), counts)
    rows[rows <= 0] = min(observed) / 2
    return (rows / sum(observed)).astype(np.float32)


def item_attributes(features: FeatureConfig) -> tuple[str, ...]:
    """The raw item-side features the index returns with its candidates (all but the key)."""
    return tuple(f.name for f in features.side_features(*CANDIDATE_SIDES) if f.name != features.item_key)


def build_catalog(file_patterns, tft_out, features: FeatureConfig, names: tuple[str, ...]
                  ) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Every distinct item, from its newest example (by the raw ``timestamp_key`` when the config
    has it as a feature, else its first): (raw item keys [N], transformed item features name ->
    [N, ...], raw item attributes raw feature name -> [N] or [N, max_length]). Newest, because an
    item's attributes change (a price, the real-time ``item_ctr``): the index serves the latest
    value its training data holds."""
    spec = tft_out.transformed_feature_spec()
    raw = {n: raw_key(n) for n in item_attributes(features)}
    time_key = raw_key(features.timestamp_key)
    timed = time_key in spec
    wanted = {k: spec[k] for k in (CATALOG_ITEM_KEY,) + names + tuple(raw.values())
              + ((time_key,) if timed else ())}
    ds = tf.data.TFRecordDataset(_files(file_patterns), compression_type="GZIP").batch(4096)
    seen: dict[bytes, int] = {}
    newest: list[int] = []  # per catalogue row, the timestamp of the example it holds
    columns: dict[str, list] = {k: [] for k in names + tuple(raw.values())}
    for batch in ds.map(lambda s: tf.io.parse_example(s, wanted)):
        keys = batch[CATALOG_ITEM_KEY].numpy().reshape(-1)
        times = batch[time_key].numpy().reshape(-1) if timed else np.zeros(len(keys), np.int64)
        values = {k: batch[k].numpy() for k in columns}
        for i, key in enumerate(keys):
            row = seen.get(key)
            if row is None:
                seen[key] = len(seen)
                newest.append(times[i])
                for k in columns:
                    columns[k].append(values[k][i])
            elif times[i] > newest[row]:
                newest[row] = times[i]
                for k in columns:
                    columns[k][row] = values[k][i]
    ids = np.array([k.decode() for k in seen], dtype=object)
    stacked = {k: np.stack(v) for k, v in columns.items()}
    return ids, {k: stacked[k] for k in names}, {n: stacked[k] for n, k in raw.items()}


def embed_catalog(model: TwoTowerModel, catalog: dict[str, np.ndarray], batch: int = 4096) -> np.ndarray:
    n = len(next(iter(catalog.values())))
    out = [model.candidate_tower({k: v[i:i + batch] for k, v in catalog.items()}).numpy()
           for i in range(0, n, batch)]
    return np.concatenate(out)


def train_and_export(*, train_files, eval_files, transform_output: str, serving_model_dir: str,
                     features: FeatureConfig, config: RetrievalConfig,
                     distribute: DistributeConfig = DistributeConfig()) -> dict:
    """Trains the two towers under ``distribute``'s strategy and saves the index (only the
    chief's copy under multi-worker training); returns ``fit_summary`` and the catalogue size."""
    # First: a MultiWorkerMirroredStrategy must exist before any other TF op of the process.
    strategy = distribution.make_strategy(distribute)
    tf.keras.utils.set_random_seed(config.seed)
    tft_out = tft.TFTransformOutput(transform_output)
    sizes = features.vocabulary_sizes(tft_out)
    catalog_ids, catalog, attributes = build_catalog(list(train_files) + list(eval_files), tft_out,
                                                     features, transformed_keys(features, CANDIDATE_SIDES))
    train_ds = interactions_dataset(train_files, tft_out, features, config, strategy)
    with strategy.scope():  # variables and optimizer slots mirrored on every replica
        model = TwoTowerModel(features, sizes, config,
                              item_probability=item_probabilities(tft_out, features, sizes),
                              catalog=catalog)
        model.compile(optimizer=keras.optimizers.Adam(config.learning_rate))
        distribution.build_variables(strategy, model, next(iter(train_ds)))

    timer = EpochTimer()
    history = model.fit(train_ds, epochs=config.epochs, verbose=2,
                        callbacks=[timer, EpochProgress("training retriever", config.epochs)])
    examples = sum(int(tf.shape(b[features.item_key])[0]) for b in train_ds)

    index = retrieval_export.RetrievalIndex(
        model.query_tower, tft_out.transform_features_layer(), catalog_ids,
        embed_catalog(model, catalog), config.top_k, attributes, block_size=config.index_block_size)
    query_names = request_features(features, config)
    target = distribution.export_dir(strategy, serving_model_dir)
    retrieval_export.save(index, tft_out, features, query_names, target,
                          warmup_rows=raw_rows(eval_files, tft_out, features))
    distribution.discard_export(target, serving_model_dir)
    result = {**fit_summary(history, timer, examples), "catalog_size": len(catalog_ids),
              "replicas": strategy.num_replicas_in_sync}
    logging.info("retrieval training result: %s", json.dumps(result))
    return result
