"""Retrieval evaluation: the exported retrieval SavedModel against the full catalogue, and the
verdict against the configured thresholds (TFMA's Evaluator scores one example at a time, so it
cannot rank a whole catalogue per query; this does, through the very signature TF Serving will
call). The TFX component around it is ``components/retrieval_evaluator.py``.

Test cases: every eval-split interaction; the query is that raw tf.Example (the user's features
and history at the time), the target its item, and the user's training items are excluded
(``serving_exclude``; ``retrieval_eval.exclude_seen = false``: nothing excluded). The protocol is
the data's split: ``data.split = "leave_last_out"`` makes it next-item prediction (per user, the
last interaction by time is the one test case, everything before it trains; ``data/leave_last_out.py``),
"hash" a random held-out share of interactions, "temporal" the last share of time. The popularity baseline ranks by training interaction count with the same
exclusions. Slices: the feature config's ``[[count_slice]]`` features (e.g. ``user_activity``
heavy/medium/light, ``item_popularity`` head/torso/tail), read from the examples exactly as the
ranker's TFMA slices are, so both stages are sliced the same way; and the cold-start slices
(``FeatureConfig.cold_slices``): ``user_start`` / ``item_start`` = cold when the case's user /
target item has no training interaction, the definition Transform applies for TFMA, computed
here from the same training interactions the exclusions come from. A cold user is served from
attributes, context and history (its id is out of vocabulary); a cold item can only be a hit if
the index holds it (the catalogue is every item of both splits, ``training/retriever.py``), and
popularity never ranks it.

Outputs: ``evaluation`` holds ``retrieval_metrics.json`` and the same figures as TFMA
``MetricsForSlice`` records + ``eval_config.json`` (``tfma.load_eval_result`` and TFMA's viewer
read it; the models are named "candidate" and "popularity"); ``blessing`` carries ``blessed`` = 1/0,
which the Pusher checks.
"""

import json
import os
from collections import Counter, defaultdict

import numpy as np

from recsys.config import RetrievalEvalConfig
from recsys.evaluation import retrieval_metrics
from recsys.features import COLD, WARM, FeatureConfig

METRICS_FILE = retrieval_metrics.METRICS_FILE
CANDIDATE = "candidate"  # TFMA model names of the evaluated retriever and the baseline
BASELINE = "popularity"
GATE_K = 100  # the gate is on Recall@GATE_K (``recall@100``), Recall@10 and the lift at GATE_K


def read_split(examples_uri: str, split: str, features: FeatureConfig, keep_bytes: bool):
    """(users, items, serialized-or-None, count-slice values) of one split's interactions."""
    import tensorflow as tf

    files = tf.io.gfile.glob(os.path.join(examples_uri, f"Split-{split}", "*"))
    if not files:
        raise FileNotFoundError(f"no examples in split {split!r} under {examples_uri}")
    slice_names = [cs.name for cs in features.count_slices]
    spec = {features.user_key: tf.io.FixedLenFeature([], tf.string),
            features.item_key: tf.io.FixedLenFeature([], tf.string),
            features.label: tf.io.FixedLenFeature([], tf.int64, default_value=0),
            **{n: tf.io.FixedLenFeature([], tf.string, default_value="") for n in slice_names}}
    users, items, raw = [], [], []
    slices: dict[str, list] = {n: [] for n in slice_names}
    for batch in tf.data.TFRecordDataset(files, compression_type="GZIP").batch(4096):
        parsed = tf.io.parse_example(batch, spec)
        keep = np.ones(len(batch), bool) if features.interactions == "all" else parsed[features.label].numpy() > 0
        users += [u.decode() for u in parsed[features.user_key].numpy()[keep]]
        items += [i.decode() for i in parsed[features.item_key].numpy()[keep]]
        for n in slice_names:
            slices[n] += [v.decode() for v in parsed[n].numpy()[keep]]
        if keep_bytes:
            raw += list(batch.numpy()[keep])
    return users, items, raw, slices


def cold_slices(features: FeatureConfig, train_users: list, train_items: list, users: list,
                targets: list) -> dict[str, np.ndarray]:
    """``"user_start:cold"``-style slice name -> mask over the eval cases, per cold-start slice
    (``FeatureConfig.cold_slices``), for each mark that occurs: an id is warm when it has a
    training interaction (``train_users`` / ``train_items``: the training interactions' ids)."""
    key_values = {features.user_key: (set(train_users), users),
                  features.item_key: (set(train_items), targets)}
    out = {}
    for name, key in features.cold_slices.items():
        trained, ids = key_values[key]
        warm = np.array([i in trained for i in ids], bool)
        for mark, mask in ((COLD, ~warm), (WARM, warm)):
            if mask.any():
                out[f"{name}:{mark}"] = mask
    return out


def retrieve(model_dir: str, queries: list, excluded: list, batch_size: int) -> tuple[list, list]:
    """(top-K item ids per serialized query through the exported ``serving_exclude`` signature,
    the model's catalogue)."""
    import tensorflow as tf

    loaded = tf.saved_model.load(model_dir)
    serve = loaded.signatures["serving_exclude"]
    catalog = [i.decode() for i in loaded.item_ids.numpy()]
    out = []
    for start in range(0, len(queries), batch_size):
        ex = excluded[start:start + batch_size]
        width = max(1, max(len(e) for e in ex))
        pad = [sorted(e) + [""] * (width - len(e)) for e in ex]
        ids = serve(examples=tf.constant(queries[start:start + batch_size]),
                    exclude=tf.constant(pad))["item_ids"].numpy()
        out += [[i.decode() for i in row if i] for row in ids]
    return out, catalog


def evaluate(examples_uri: str, model_dir: str, features: FeatureConfig, gate: RetrievalEvalConfig
             ) -> dict:
    train_users, train_items, _, _ = read_split(examples_uri, "train", features, keep_bytes=False)
    users, targets, queries, slice_values = read_split(examples_uri, "eval", features, keep_bytes=True)
    seen: dict[str, set] = defaultdict(set)
    for u, i in zip(train_users, train_items):
        seen[u].add(i)
    counts = Counter(train_items)
    excluded = [seen.get(u, set()) if gate.exclude_seen else set() for u in users]
    model_lists, catalog = retrieve(model_dir, queries, excluded, gate.batch_size)
    slices = {f"{name}:{value}": np.array([v == value for v in values], bool)
              for name, values in slice_values.items() for value in sorted(set(values))}
    slices.update(cold_slices(features, train_users, train_items, users, targets))

    k = max((len(x) for x in model_lists), default=0)  # the exported top_k
    result = retrieval_metrics.evaluate_lists(model_lists, targets, slices, len(catalog))
    baseline = retrieval_metrics.evaluate_lists(
        retrieval_metrics.popularity_top_k(counts, catalog, excluded, k), targets, slices, len(catalog))

    failures = gate_failures(result["overall"], baseline["overall"], len(catalog), gate)
    return {**result, "baseline": baseline, "blessed": not failures, "failures": failures,
            "catalog_size": len(catalog), "top_k": k, "test_cases": len(targets),
            "exclude_seen": gate.exclude_seen,
            "thresholds": {"recall@100": gate.recall_at_100_lower_bound,
                           "recall@10": gate.recall_at_10_lower_bound,
                           "min_lift_over_popularity": gate.min_lift_over_popularity}}


def gate_failures(overall: dict, baseline: dict, catalog_size: int, gate: RetrievalEvalConfig
                  ) -> list[str]:
    """Why the retriever is not blessed (empty: blessed).

    * The catalogue must be larger than K: with at most K items every top-K list holds the whole
      catalogue (minus exclusions), so Recall@K is 1.0 for any model, popularity included, and
      the gate would measure nothing (a 39-item data set was once blessed that way).
    * Recall@100 and Recall@10 must clear their lower bounds.
    * Recall@100 must beat popularity by MORE than ``min_lift_over_popularity``: a tie is no
      evidence that the two towers learned anything popularity does not already know.
    """
    if catalog_size <= GATE_K:
        return [f"catalogue has {catalog_size} items, not more than K = {GATE_K}: every top-{GATE_K} "
                f"list holds the whole catalogue, so recall@{GATE_K} cannot tell a model from "
                "popularity; evaluate on a larger catalogue"]
    failures = []
    for metric, bound in ((f"recall@{GATE_K}", gate.recall_at_100_lower_bound),
                          ("recall@10", gate.recall_at_10_lower_bound)):
        value = overall.get(metric, 0.0)
        if value < bound:
            failures.append(f"{metric} = {value:.4f} < lower bound {bound}")
    lift = overall.get(f"recall@{GATE_K}", 0.0) - baseline.get(f"recall@{GATE_K}", 0.0)
    if not lift > gate.min_lift_over_popularity:
        failures.append(f"recall@{GATE_K} lift over popularity = {lift:.4f} "
                        f"(model {overall.get(f'recall@{GATE_K}', 0.0):.4f} vs popularity "
                        f"{baseline.get(f'recall@{GATE_K}', 0.0):.4f}), not more than the required "
                        f"{gate.min_lift_over_popularity}")
    return failures


def write_tfma(result: dict, output_dir: str, model_dir: str, data_location: str) -> None:
    """The figures as TFMA MetricsForSlice records + eval_config.json (``tfma.load_eval_result``)."""
    import tensorflow as tf
    import tensorflow_model_analysis as tfma
    from google.protobuf import json_format
    from tensorflow_model_analysis.proto import config_pb2, metrics_for_slice_pb2

    def records(system: dict, model_name: str):
        for name, metrics in [("", system["overall"])] + sorted(system["slices"].items()):
            m = metrics_for_slice_pb2.MetricsForSlice()
            if name:
                column, _, value = name.partition(":")
                m.slice_key.single_slice_keys.add(column=column, bytes_value=value.encode())
            for key, value in metrics.items():
                kv = m.metric_keys_and_values.add()
                kv.key.name = key
                kv.key.model_name = model_name
                kv.value.double_value.value = float(value)
            yield m

    with tf.io.TFRecordWriter(os.path.join(output_dir, "metrics-00000-of-00001.tfrecord")) as w:
        for m in list(records(result, CANDIDATE)) + list(records(result["baseline"], BASELINE)):
            w.write(m.SerializeToString())
    config = tfma.EvalConfig(
        model_specs=[tfma.ModelSpec(name=CANDIDATE), tfma.ModelSpec(name=BASELINE, is_baseline=True)],
        slicing_specs=[tfma.SlicingSpec()] + [tfma.SlicingSpec(feature_keys=[name]) for name in
                                              sorted({k.partition(":")[0] for k in result["slices"]})])
    run = config_pb2.EvalRun(eval_config=config, version=tfma.version.VERSION,
                             data_location=data_location, file_format="tfrecord",
                             model_locations={CANDIDATE: model_dir, BASELINE: ""})
    with tf.io.gfile.GFile(os.path.join(output_dir, "eval_config.json"), "w") as fh:
        fh.write(json_format.MessageToJson(run))
