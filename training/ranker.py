"""Ranker training: Transform's output -> the configured ranker (or its blend with KNNBaseline,
fitted in two stages) -> a SavedModel with signatures.

``train_and_export`` takes the feature config and the typed train config, so the TFX Trainer
(``components/trainer.py``), the tests and the benchmarks call the same function. The export's TF
Serving warmup requests are rebuilt from the first eval examples' raw features, which Transform
passes through (``raw_rows``): training itself only reads transformed examples.
"""

from __future__ import annotations

import functools
import json
import os
import statistics
import time

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
from absl import logging

from recsys.models import export, neighbourhood
from recsys.models.blend import BlendedRanker
from recsys.models.factory import build_ranker
from recsys.models.neighbourhood import Neighbourhood
from recsys.models.ranking import make_task
from recsys import progress
from recsys.config import DistributeConfig, TrainConfig
from recsys.features import FeatureConfig, raw_key
from recsys.training import distribution
from recsys.training.optimizers import build_optimizer, finalize_weight_averages
from recsys.training.precision import configure_precision

keras = tf.keras


def _num_files(file_patterns) -> int:
    patterns = file_patterns if isinstance(file_patterns, (list, tuple)) else [file_patterns]
    return sum(len(tf.io.gfile.glob(p)) for p in patterns)


def _records(file_patterns, holdout: tuple[int, bool] | None = None) -> tf.data.Dataset:
    """Serialized transformed examples in a fixed order. ``holdout=(n, held)``: only every n-th
    record (held) or all the others (not held), the same ones on every call."""
    files = []
    for pattern in file_patterns if isinstance(file_patterns, (list, tuple)) else [file_patterns]:
        files.extend(tf.io.gfile.glob(pattern))
    if not files:
        raise FileNotFoundError(f"no transformed examples match {file_patterns}")
    ds = tf.data.TFRecordDataset(sorted(files), compression_type="GZIP",
                                 num_parallel_reads=min(len(files), 4))  # deterministic interleave
    if holdout:
        every, held = holdout
        ds = ds.enumerate().filter(lambda n, _: tf.equal(tf.equal(n % every, 0), held)).map(lambda n, x: x)
    return ds


def raw_rows(file_patterns, tf_transform_output, features: FeatureConfig,
             limit: int = export.WARMUP_BATCH) -> list[dict[str, np.ndarray]]:
    """The raw model features of the first ``limit`` transformed examples, from Transform's
    pass-through (``raw_key``): feature name -> value, multi-valued string features as their
    values without the "" padding. The exports build their warmup requests from these (the
    Trainer reads transformed examples only, but serving parses raw ones)."""
    spec = tf_transform_output.transformed_feature_spec()
    missing = [raw_key(f.name) for f in features.features if raw_key(f.name) not in spec]
    if missing:
        raise ValueError(f"the Transform output has no pass-through raw features {missing}; "
                         "it was made by an older preprocessing_fn: re-run Transform")
    wanted = {raw_key(f.name): spec[raw_key(f.name)] for f in features.features}
    rows = []
    for batch in _records(file_patterns).take(limit).batch(limit):
        parsed = {k: v.numpy() for k, v in tf.io.parse_example(batch, wanted).items()}
        for i in range(len(batch)):
            row = {}
            for f in features.features:
                value = parsed[raw_key(f.name)][i]
                row[f.name] = value[value != b""] if f.is_varlen and f.dtype == "string" else value
            rows.append(row)
    if not rows:
        raise ValueError(f"no examples in {file_patterns} to build warmup requests from")
    return rows


def make_dataset(file_patterns, tf_transform_output, features: FeatureConfig, train: TrainConfig,
                 *, training: bool, holdout: tuple[int, bool] | None = None,
                 shuffle_labels: bool = False,
                 strategy: tf.distribute.Strategy | None = None) -> tf.data.Dataset:
    """Transformed tf.Examples -> (features, label) batches (``holdout``: see ``_records``;
    ``shuffle_labels``: the test-only ``testing.shuffle_labels``; ``strategy``: how the batches
    are sharded over workers, ``distribution.shard_options``). ``train.batch_size`` is the global
    batch: ``fit`` splits it between the replicas.

    Raw records are decompressed once and cached in memory (gzip is the slow part), then each
    epoch shuffles records, batches, and parses whole batches in parallel (one ``parse_example``
    per batch is far cheaper than per record).
    """
    # Pass-through raw values are never parsed: they are for the exports, not model inputs.
    spec = {k: v for k, v in tf_transform_output.transformed_feature_spec().items()
            if k not in features.passthrough_keys()}
    label_key = features.label_key(train.label_mode)
    # Multi-task: labels [B, 2] = (main, auxiliary).
    aux = features.aux_label_key(train.label_mode, train.aux_weight, train.multitask.mode)
    label_keys = set(features.label_keys)  # not model inputs
    ds = _records(file_patterns, holdout).cache()
    if training:
        ds = ds.shuffle(100_000, seed=train.seed, reshuffle_each_iteration=True)
    ds = ds.batch(train.batch_size, drop_remainder=False)

    def parse(serialized):
        parsed = tf.io.parse_example(serialized, spec)
        label = parsed[label_key]
        if aux:
            label = tf.stack([label, parsed[aux]], axis=-1)
        if training and shuffle_labels:
            # Labels permuted within the batch (both heads' rows together): the base rate is
            # kept, the signal is destroyed.
            label = tf.random.shuffle(label, seed=train.seed)
        return {k: v for k, v in parsed.items() if k not in label_keys}, label

    # In order, also when training: under multi-worker training with fewer files than workers
    # each worker takes its part of every global batch by position (``distribution.shard_options``),
    # which is right only if every worker's pipeline yields the same batches in the same order;
    # and on one machine a seed then reproduces its run. Parsing stays parallel.
    ds = ds.map(parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = ds.prefetch(tf.data.AUTOTUNE)
    if strategy is not None:
        ds = ds.with_options(distribution.shard_options(_num_files(file_patterns), strategy))
    return ds


class EpochProgress(keras.callbacks.Callback):
    """A progress bar over the epochs (``recsys.progress``; shown only where the CLI shows it)."""

    def __init__(self, label: str, epochs: int):
        super().__init__()
        self._label, self._epochs = label, epochs

    def on_train_begin(self, logs=None):
        self._bar = progress.Bar(self._label, self._epochs, "epochs")

    def on_epoch_end(self, epoch, logs=None):
        self._bar.update(epoch + 1)

    def on_train_end(self, logs=None):
        self._bar.close()


class EpochTimer(keras.callbacks.Callback):
    """Wall seconds per epoch (throughput is reported from these, not from a timed test)."""

    def on_train_begin(self, logs=None):
        self.seconds: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


def fit_summary(history, timer: EpochTimer, examples: int) -> dict:
    """Loss per epoch and training throughput, as every Trainer reports them."""
    return {"train_loss": [float(x) for x in history.history["loss"]],
            "train_examples_per_epoch": examples,
            "epoch_seconds": [round(t, 3) for t in timer.seconds],
            # Steady state: the first epoch also traces the graph and fills the input cache.
            "train_examples_per_second": examples / statistics.median(timer.seconds[1:] or timer.seconds)}


def train_and_export(*, train_files, eval_files, transform_output: str, serving_model_dir: str,
                     features: FeatureConfig, train: TrainConfig, log_dir: str | None = None,
                     shuffle_labels: bool = False,
                     distribute: DistributeConfig = DistributeConfig()) -> dict:
    """Trains and saves the model; returns the final eval metrics and training throughput.
    ``shuffle_labels`` (tests only) trains on labels permuted within each batch; ``distribute``:
    the ``tf.distribute`` strategy (``training/distribution.py``; under multi-worker training only
    the chief's export is kept)."""
    # First: a MultiWorkerMirroredStrategy must exist before any other TF op of the process.
    strategy = distribution.make_strategy(distribute)
    tf.keras.utils.set_random_seed(train.seed)
    precision = configure_precision(train)
    tft_out = tft.TFTransformOutput(transform_output)
    eval_ds = make_dataset(eval_files, tft_out, features, train, training=False, strategy=strategy)
    if train.eval_steps:
        eval_ds = eval_ds.take(train.eval_steps)

    if train.neighbourhood_blend:
        if strategy.num_replicas_in_sync > 1:
            raise ValueError(f"train.neighbourhood_blend: true trains on one device only; "
                             f"expected distribute.strategy 'default', got {distribute.strategy!r} "
                             f"({strategy.num_replicas_in_sync} replicas)")
        model, summary = _fit_blend(train_files, tft_out, features, train, log_dir, shuffle_labels)
    else:
        train_ds = make_dataset(train_files, tft_out, features, train, training=True,
                                shuffle_labels=shuffle_labels, strategy=strategy)
        model, summary = _fit_ranker(train_ds, tft_out, features, train, log_dir, strategy)
    metrics = model.evaluate(eval_ds, return_dict=True, verbose=0)
    # Every worker saves (the variables are read collectively); only the chief's copy is kept.
    target = distribution.export_dir(strategy, serving_model_dir)
    export.save(model, tft_out, features, train.label_mode, target,
                warmup_rows=raw_rows(eval_files, tft_out, features))
    distribution.discard_export(target, serving_model_dir)
    result = {"eval": {k: float(v) for k, v in metrics.items()}, **summary,
              "replicas": strategy.num_replicas_in_sync, "precision": precision}
    if distribution.is_multi_worker(strategy):
        result["weights_sha256"] = distribution.weights_fingerprint(model)
    logging.info("training result: %s", json.dumps(result))
    return result


def _fit_ranker(train_ds, tft_out, features: FeatureConfig, train: TrainConfig, log_dir=None,
                strategy: tf.distribute.Strategy | None = None):
    """The configured ranker, trained on ``train_ds``; returns it and its ``fit_summary``.
    Its variables and the optimizer's slots are created under ``strategy``'s scope, so they are
    mirrored on every replica."""
    # One counting pass (it also fills the input cache): the report's examples/epoch and, for a
    # learning-rate schedule, the epoch length in steps. The dataset is not distributed here, so
    # every worker counts all examples, and steps are global batches.
    examples = sum(int(tf.shape(labels)[0]) for _, labels in train_ds)
    steps = -(-examples // train.batch_size)  # the last batch may be short
    strategy = strategy or tf.distribute.get_strategy()
    with strategy.scope():
        model = build_ranker(train, features, features.vocabulary_sizes(tft_out))
        model.compile(optimizer=build_optimizer(model, train, steps), jit_compile=train.jit_compile)
        distribution.build_variables(strategy, model, next(iter(train_ds)))
    timer = EpochTimer()
    callbacks = [timer, EpochProgress(f"training {train.model}", train.epochs)]
    callbacks += [keras.callbacks.TensorBoard(log_dir, update_freq="epoch")] if log_dir else []
    history = model.fit(train_ds, epochs=train.epochs, callbacks=callbacks, verbose=2)
    finalize_weight_averages(model.optimizer)
    return model, fit_summary(history, timer, examples)


def _neighbourhood(train_files, tft_out, features: FeatureConfig, train: TrainConfig,
                   holdout: tuple[int, bool] | None) -> Neighbourhood:
    """KNNBaseline fitted on the (user, item, rating)s of the training records."""
    keys = (features.user_key, features.item_key, features.rating)
    spec = {k: tft_out.transformed_feature_spec()[k] for k in keys}
    columns = {k: [] for k in keys}
    for batch in _records(train_files, holdout).batch(8192).map(lambda x: tf.io.parse_example(x, spec)):
        for k in keys:
            columns[k].append(tf.reshape(batch[k], [-1]).numpy())
    users, items, ratings = (np.concatenate(columns[k]) for k in keys)
    sizes = features.vocabulary_sizes(tft_out)
    tables = neighbourhood.fit(users, items, ratings, sizes[features.user_key], sizes[features.item_key])
    return Neighbourhood(tables, features.user_key, features.item_key, train.blend.neighbours, name="neighbourhood")


def _fit_blend(train_files, tft_out, features: FeatureConfig, train: TrainConfig, log_dir=None,
               shuffle_labels: bool = False):
    """``neighbourhood_blend``: the ranker blended with KNNBaseline (``models/blend.py``).

    Stage 1 fits the ranker and the neighbourhood model without every ``blend.holdout_every``-th
    training example and the blend weights on those: the weights must come from examples neither
    part has seen, or they would trust the part that memorised its training labels. Stage 2 refits
    both on the whole training split and blends them with stage 1's weights."""
    if train.multitask.mode != "off":
        raise ValueError(f"train.neighbourhood_blend blends one score; train.multitask.mode="
                         f"{train.multitask.mode!r} has three; expected mode 'off' with the blend")
    if features.rating is None:
        raise ValueError(f"train.neighbourhood_blend needs ratings; data set {features.dataset!r} "
                         "has none (its feature config sets no 'rating')")
    if train.blend.holdout_every < 2:
        raise ValueError(f"train.blend.holdout_every={train.blend.holdout_every}; expected >= 2 "
                         "(every n-th training example fits the blend weights)")
    if train.blend.neighbours < 1:
        raise ValueError(f"train.blend.neighbours={train.blend.neighbours}; expected >= 1 "
                         "(neighbours per neighbourhood correction)")
    every = train.blend.holdout_every
    num_labels = 2 if features.aux_label_key(train.label_mode, train.aux_weight) else 1
    make = functools.partial(make_dataset, train_files, tft_out, features, train, training=True,
                             shuffle_labels=shuffle_labels)
    ranker, _ = _fit_ranker(make(holdout=(every, False)), tft_out, features, train)
    stage1 = BlendedRanker(ranker, _neighbourhood(train_files, tft_out, features, train, (every, False)),
                           make_task(train.label_mode), num_labels)
    stage1.fit_blend(make(holdout=(every, True)), steps=train.blend.steps)
    weights = stage1.blend.get_weights()

    # Re-seeded so the stage-2 ranker starts as the same ranker trained without a blend would.
    tf.keras.utils.set_random_seed(train.seed)
    ranker, summary = _fit_ranker(make(), tft_out, features, train, log_dir)
    model = BlendedRanker(ranker, _neighbourhood(train_files, tft_out, features, train, None),
                          make_task(train.label_mode), num_labels, weights=weights)
    model.compile()
    summary["blend_weights"] = dict(zip(("ranker",) + neighbourhood.OUTPUTS + ("bias",),
                                        [float(w) for w in np.concatenate([w.ravel() for w in weights])]))
    return model, summary
