"""Scale benchmark (issue 14): the data stages, the Trainers and the retrieval index as the data
grows, on this machine's cores. Results merge into ``benchmarks/results/scale.json`` under one key
per part (other keys, e.g. ``multi_worker``, are kept):

  python -m benchmarks.scale stages --events 100000,1000000   # "stages"
  python -m benchmarks.scale trainer --events 1000000         # "trainer"
  python -m benchmarks.scale pipeline [--movielens DIR]       # "pipeline_components"
  python -m benchmarks.scale index --candidates 100000,1000000  # "index"
  python -m benchmarks.scale statistics --events 100000,1000000 --output-root R  # "statistics"

* ``stages``: the synthetic generator (``data/prepare.py``: generate, count slices, write gzip
  shards), then ImportExampleGen, StatisticsGen and Transform (with the schema import, validation
  and gate they depend on) through TFX's local runner on the pipeline's Beam settings. Per stage:
  wall seconds from MLMD (execution created -> last updated), rows/s and the peak RSS of this
  process and all its children (Beam's worker processes) sampled every 0.2 s while the stage ran.
  Streaming means the peak is flat as the rows grow: compare the sizes.
* ``trainer``: on the Transform output of a ``stages`` run (``--reuse``) or a fresh one, the
  project's Trainers (``training/ranker.py``, ``training/retriever.py``; the TFX Trainer's run_fn
  calls exactly these) against a plain Keras ``fit`` of the same model over the same TFRecords,
  in the same process. Examples/s is the steady state (median epoch after the first); the
  overhead is 1 - trainer / plain.
* ``pipeline``: one cold ``recsys run`` (ranker + retriever), wall time per component from MLMD
  and CPU seconds per component (user + system of this process and its descendants: Beam's worker
  processes), which, unlike wall time, hardly move when other jobs share the machine.
  ``--label NAME`` records a variant (``--set ...``) beside the default entry.
* ``index``: ``RetrievalIndex.top_k`` on random unit embeddings (latency per batch, RSS growth),
  whole-matrix vs ``block_size`` blocks; and with ``--scann-python``, ScaNN's recall@100 against
  exact search (``benchmarks/scann_recall.py``; the documented alternative, never exported).

* ``statistics``: StatisticsGen's Beam graph (``tfdv.GenerateStatistics``, what the component
  runs) over the training split a ``stages`` run wrote under ``--output-root``, once with exact
  top-k / unique counts and once with TFDV's sketches (``pipeline.statistics_sketches``), each in
  a fresh process on the pipeline's DirectRunner settings: peak RSS (process tree) and wall time.

Every entry records the command, machine, date, commit and the load average before and after:
the machine is shared, so speed figures are only comparable within one entry.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # Keras 2, before TensorFlow is imported
from benchmarks.machine import record, stamp  # noqa: E402
from recsys.config import DEFAULT_CONFIG_PATH, REPO_ROOT, load_config  # noqa: E402

RESULTS = os.path.join(REPO_ROOT, "benchmarks", "results", "scale.json")
STAGES = ("ImportExampleGen", "StatisticsGen", "Transform")
# Components the Transform depends on in create_pipeline (the validation gate runs before it).
DATA_NODES = ("ImportExampleGen", "StatisticsGen", "ImportSchemaGen", "ExampleValidator",
              "AnomaliesGate", "Transform")
# The default synthetic log's shape (120k events, 2,000 users, 800 items), kept as events grow.
EVENTS_PER_USER, EVENTS_PER_ITEM = 60, 150


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


class RssSampler:
    """Samples the RSS and the CPU seconds (user + system) of this process plus every descendant
    (Beam's SDK workers) in a thread. CPU seconds, unlike wall seconds, do not grow when other
    work shares the machine, so they compare runs taken under different loads."""

    def __init__(self, every: float = 0.2):
        import psutil

        self._proc, self._every = psutil.Process(), every
        self.samples: list[tuple[float, int]] = []
        self.cpu: list[tuple[float, float]] = []  # (time, cumulative CPU s of the process tree)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _rss(self) -> int:
        import psutil

        total = self._proc.memory_info().rss
        for child in self._proc.children(recursive=True):
            try:
                total += child.memory_info().rss
            except psutil.Error:  # a worker that exited between listing and reading
                pass
        return total

    def _cpu(self) -> float:
        """User + system s of this process, its live descendants and every descendant that exited
        and was waited for (the ``children_*`` fields: where a finished Beam worker's time goes)."""
        import psutil

        total = 0.0
        for proc in [self._proc, *self._proc.children(recursive=True)]:
            try:
                t = proc.cpu_times()
            except psutil.Error:
                continue
            total += t.user + t.system + t.children_user + t.children_system
        return total

    def _run(self):
        while not self._stop.is_set():
            now = time.time()
            self.samples.append((now, self._rss()))
            self.cpu.append((now, self._cpu()))
            self._stop.wait(self._every)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def cpu_seconds(self, start: float, end: float) -> float | None:
        """CPU s of the process tree between the samples nearest ``start`` and ``end``."""
        inside = [c for t, c in self.cpu if start <= t <= end]
        before = [c for t, c in self.cpu if t < start]
        if not inside:
            return None
        return round(inside[-1] - (before[-1] if before else inside[0]), 1)

    def peak_mb(self, start: float, end: float) -> float | None:
        inside = [rss for t, rss in self.samples if start <= t <= end]
        return round(max(inside) / 2**20, 1) if inside else None


def synthetic_overrides(events: int, output_dir: str) -> list[str]:
    return [f"pipeline.output_dir={output_dir}", f"data.num_events={events}",
            f"data.num_users={max(events // EVENTS_PER_USER, 1)}",
            f"data.num_items={max(events // EVENTS_PER_ITEM, 1)}", "retrieval.enabled=true"]


def component_windows(metadata_path: str) -> dict[str, tuple[float, float]]:
    """Node id -> (start, end) unix seconds of its newest execution, from MLMD."""
    from recsys.evaluation.metadata import executions_by_node, open_store

    out = {}
    for node, runs in executions_by_node(open_store(metadata_path)).items():
        if runs:
            e = runs[0]
            out[node] = (e.create_time_since_epoch / 1000, e.last_update_time_since_epoch / 1000)
    return out


def run_data_stages(config, sampler: RssSampler) -> dict:
    """Generator + the data components of ``config``'s pipeline (a fresh output dir: no cache)."""
    from tfx import v1 as tfx

    from recsys.data.prepare import prepare_data, prepared_manifest
    from recsys.features import FeatureConfig
    from recsys.pipeline.local_runner import RunPaths, build
    from recsys.pipeline.pipeline import compile_pipeline

    features = FeatureConfig.load(config.features_path)
    t0 = time.time()
    data_root = prepare_data(config, features=features)
    t1 = time.time()
    rows = sum(prepared_manifest(data_root)["counts"].values())
    full = build(config, data_root, features)
    # The data half of the same DAG: same components, same Beam arguments, no Trainers.
    kept = [c for c in full.components if c.id in DATA_NODES]
    for c in kept:
        for down in [d for d in c.downstream_nodes if d.id not in DATA_NODES]:
            c.remove_downstream_node(down)
    part = tfx.dsl.Pipeline(pipeline_name=full.pipeline_info.pipeline_name,
                            pipeline_root=full.pipeline_info.pipeline_root,
                            components=kept,
                            enable_cache=False, metadata_connection_config=full.metadata_connection_config,
                            beam_pipeline_args=full.beam_pipeline_args)
    tfx.orchestration.LocalDagRunner().run_with_ir(compile_pipeline(part))
    windows = component_windows(RunPaths.from_config(config).metadata_path)
    out = {"rows": rows, "generator": _stage(rows, t0, t1, sampler)}
    for node in STAGES:
        out[node] = _stage(rows, *windows[node], sampler)
    return out


def _stage(rows: int, start: float, end: float, sampler: RssSampler) -> dict:
    seconds = end - start
    return {"seconds": round(seconds, 1), "rows_per_second": round(rows / seconds) if seconds else None,
            "peak_rss_mb": sampler.peak_mb(start, end)}


def stages(args) -> dict:
    results = {}
    for events in args.events:
        out_dir = os.path.join(args.output_root, f"stages-{events}")
        shutil.rmtree(out_dir, ignore_errors=True)
        config = load_config(DEFAULT_CONFIG_PATH, synthetic_overrides(events, out_dir) + args.set)
        before = load()
        with RssSampler() as sampler:
            results[str(events)] = {**run_data_stages(config, sampler), "load_before": before,
                                    "load_after": load(), "output_dir": out_dir,
                                    "date": stamp()["date"]}
        print(json.dumps({str(events): results[str(events)]}), flush=True)
        if not args.no_record:  # each size as it finishes: a long run stopped later keeps these
            _merge({"stages": {"by_events": results, "beam_args": _beam(config), **stamp()}})
    return {"stages": {"by_events": results, "beam_args": _beam(config), **stamp()}}


def _beam(config) -> list[str]:
    """The Beam flags the run used (``direct_running_mode = "auto"`` goes by the prepared rows)."""
    from recsys.data.prepare import data_root_for
    from recsys.pipeline.beam_args import beam_pipeline_args
    from recsys.pipeline.local_runner import prepared_rows

    return beam_pipeline_args(config.pipeline.beam, prepared_rows(data_root_for(config)), local=True)


def _transform_run(events: int, args) -> tuple[object, str, str]:
    """(config, Transform output dir, transformed examples dir) of a ``stages`` run for
    ``events``, made now unless ``--reuse`` finds it."""
    from recsys.evaluation.metadata import latest_output_uri
    from recsys.pipeline.local_runner import RunPaths

    out_dir = os.path.join(args.output_root, f"stages-{events}")
    config = load_config(DEFAULT_CONFIG_PATH, synthetic_overrides(events, out_dir) + args.set)
    meta = RunPaths.from_config(config).metadata_path
    if not (args.reuse and os.path.exists(meta)):
        shutil.rmtree(out_dir, ignore_errors=True)
        with RssSampler() as sampler:
            run_data_stages(config, sampler)
    return (config, latest_output_uri(meta, "Transform", "TransformGraph"),
            latest_output_uri(meta, "Transform", "Examples"))


def plain_keras_ranker(train_files, tft_out, features, train) -> float:
    """Examples/s of a textbook Keras loop on the same model and TFRecords: parse, cache,
    shuffle, batch, ``fit`` with Adam; no callbacks, no strategy, no optimizer wrappers."""
    import tensorflow as tf

    from recsys.models.factory import build_ranker

    spec = {k: v for k, v in tft_out.transformed_feature_spec().items()
            if k not in features.passthrough_keys()}
    labels = set(features.label_keys)
    label = features.label_key(train.label_mode)
    ds = (tf.data.TFRecordDataset(tf.io.gfile.glob(train_files), compression_type="GZIP").cache()
          .shuffle(100_000, seed=train.seed).batch(train.batch_size)
          .map(lambda s: tf.io.parse_example(s, spec), num_parallel_calls=tf.data.AUTOTUNE)
          .map(lambda p: ({k: v for k, v in p.items() if k not in labels}, p[label]))
          .prefetch(tf.data.AUTOTUNE))
    model = build_ranker(train, features, features.vocabulary_sizes(tft_out))
    model.compile(optimizer=tf.keras.optimizers.Adam(train.learning_rate))
    return _timed_fit(model, ds, train.epochs, lambda b: b[1])


def plain_keras_retriever(train_files, tft_out, features, config, *, same_model: bool) -> float:
    """The same for the two-tower model (positives only when the data says so).

    ``same_model``: the Trainer's own model (its logQ correction and uniform negatives), so the
    ratio is the Trainer's overhead alone; otherwise the TFRS tutorial's model (in-batch softmax
    only), which says what the correction itself costs."""
    import tensorflow as tf

    from recsys.models.retrieval import CANDIDATE_SIDES, TwoTowerModel, transformed_keys
    from recsys.training.retriever import build_catalog, item_probabilities

    spec = {k: v for k, v in tft_out.transformed_feature_spec().items()
            if k not in features.passthrough_keys()}

    def parse(s):
        p = tf.io.parse_example(s, spec)
        if features.interactions == "label":
            p = {k: tf.boolean_mask(v, p[features.label] > 0) for k, v in p.items()}
        return {k: v for k, v in p.items() if k not in features.label_keys}

    ds = (tf.data.TFRecordDataset(tf.io.gfile.glob(train_files), compression_type="GZIP").cache()
          .shuffle(100_000, seed=config.seed).batch(config.batch_size)
          .map(parse, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE))
    sizes = features.vocabulary_sizes(tft_out)
    if same_model:
        catalog = build_catalog([train_files], tft_out, features,
                                transformed_keys(features, CANDIDATE_SIDES))[1]
        model = TwoTowerModel(features, sizes, config, catalog=catalog,
                              item_probability=item_probabilities(tft_out, features, sizes))
    else:
        plain = dataclasses_replace(config, logq_correction=False, uniform_negatives=0)
        model = TwoTowerModel(features, sizes, plain)
    model.compile(optimizer=tf.keras.optimizers.Adam(config.learning_rate))
    return _timed_fit(model, ds, config.epochs, lambda b: b[features.item_key])


def dataclasses_replace(obj, **changes):
    import dataclasses

    return dataclasses.replace(obj, **changes)


def _timed_fit(model, ds, epochs: int, batch_rows) -> float:
    examples = sum(int(batch_rows(b).shape[0]) for b in ds)  # also fills the cache, as the Trainer
    seconds = []
    for _ in range(epochs):
        start = time.perf_counter()
        model.fit(ds, epochs=1, verbose=0)
        seconds.append(time.perf_counter() - start)
    return examples / statistics.median(seconds[1:] or seconds)


def trainer(args) -> dict:
    import dataclasses

    import tensorflow_transform as tft

    from recsys.features import FeatureConfig
    from recsys.training import ranker, retriever

    results = {}
    for events in args.events:
        config, transform_graph, examples = _transform_run(events, args)
        features = FeatureConfig.load(config.features_path)
        tft_out = tft.TFTransformOutput(transform_graph)
        train_files = os.path.join(examples, "Split-train", "*")
        eval_files = os.path.join(examples, "Split-eval", "*")
        entry = {"load_before": load()}
        for model in args.models:
            train = dataclasses.replace(config.train, model=model, epochs=args.epochs)
            got = ranker.train_and_export(
                train_files=[train_files], eval_files=[eval_files], transform_output=transform_graph,
                serving_model_dir=os.path.join(args.output_root, f"model-{model}"), features=features,
                train=train)
            plain = plain_keras_ranker(train_files, tft_out, features, train)
            entry[model] = _ratio(got["train_examples_per_second"], plain, got)
            print(json.dumps({model: entry[model]}), flush=True)
        retrieval = dataclasses.replace(config.retrieval, epochs=args.epochs)
        got = retriever.train_and_export(
            train_files=[train_files], eval_files=[eval_files], transform_output=transform_graph,
            serving_model_dir=os.path.join(args.output_root, "model-two_tower"), features=features,
            config=retrieval)
        plain = plain_keras_retriever(train_files, tft_out, features, retrieval, same_model=True)
        tutorial = plain_keras_retriever(train_files, tft_out, features, retrieval, same_model=False)
        entry["two_tower"] = {**_ratio(got["train_examples_per_second"], plain, got),
                              "tutorial_model_examples_per_second": round(tutorial),
                              "catalog_size": got["catalog_size"]}
        entry["load_after"] = load()
        results[str(events)] = entry
        print(json.dumps({str(events): entry}), flush=True)
    return {"trainer": {"by_events": results, "epochs": args.epochs, **stamp()}}


def _ratio(trainer_rate: float, plain_rate: float, got: dict) -> dict:
    return {"trainer_examples_per_second": round(trainer_rate), "plain_keras_examples_per_second":
            round(plain_rate), "trainer_overhead": round(1 - trainer_rate / plain_rate, 3),
            "epoch_seconds": got["epoch_seconds"], "examples_per_epoch": got["train_examples_per_epoch"]}


def pipeline(args) -> dict:
    from recsys.pipeline.local_runner import RunPaths, run

    name = os.path.basename(os.path.normpath(args.movielens)) if args.movielens else "synthetic-default"
    if args.label:  # a variant (e.g. --set pipeline.beam.direct_running_mode=in_memory) keeps its own entry
        name = f"{name}-{args.label}"
    out_dir = os.path.join(args.output_root, f"pipeline-{name}")
    shutil.rmtree(out_dir, ignore_errors=True)
    overrides = [f"pipeline.output_dir={out_dir}"]
    if args.movielens:
        overrides += ["data.dataset=movielens", f"data.source={os.path.abspath(args.movielens)}"]
    config = load_config(DEFAULT_CONFIG_PATH, overrides + args.set)
    before = load()
    start = time.time()
    with RssSampler() as sampler:
        report = run(config)
    windows = component_windows(RunPaths.from_config(config).metadata_path)
    first = min(s for s, _ in windows.values())
    ordered = sorted(windows.items(), key=lambda kv: kv[1][0])
    per = {node: round(end - s, 1) for node, (s, end) in ordered}
    # CPU s per component (its process tree: Beam's worker processes included) and of the data
    # preparation: what the component costs whatever else shares the machine.
    cpu = {"data_preparation": sampler.cpu_seconds(start, first),
           **{node: sampler.cpu_seconds(s, end) for node, (s, end) in ordered}}
    entry = {"wall_seconds": report["wall_seconds"], "data_preparation_seconds": round(first - start, 1),
             "component_seconds": per, "component_cpu_seconds": cpu,
             "cpu_seconds": sampler.cpu_seconds(start, time.time()),
             "beam_args": _beam(config), "components": report.get("components", {}),
             # What the run produced, so a speed change that costs quality shows here too.
             "blessed": report.get("blessed"), "ranker_auc": report.get("metrics", {}).get("auc"),
             "retrieval_recall@100": ((report.get("retrieval") or {}).get("metrics") or {}).get("recall@100"),
             "load_before": before, "load_after": load(), **stamp()}
    return {"pipeline_components": {name: entry}}


def _catalogue(n: int, dim: int, batch: int):
    """Seeded random unit embeddings [n, dim] and queries [batch, dim] (the same in every process)."""
    import numpy as np

    rng = np.random.default_rng(0)
    emb = rng.standard_normal((n, dim), dtype=np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    queries = rng.standard_normal((batch, dim), dtype=np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    return emb, queries


def _index_one(n: int, block: int, dim: int, batch: int, k: int, repeats: int) -> tuple[dict, list]:
    """One index configuration, in a fresh process (so no earlier run's freed memory is reused):
    latency per batch, RSS once the catalogue is loaded and its peak while serving."""
    import numpy as np
    import psutil
    import tensorflow as tf

    from recsys.models.retrieval_export import RetrievalIndex

    emb, queries = _catalogue(n, dim, batch)
    ids = np.array([f"i{i}" for i in range(n)], dtype=object)
    idx = RetrievalIndex(lambda x, training=False: x, None, ids, emb, k, block_size=block)
    del emb, ids
    fn = tf.function(lambda q: idx.top_k(q))
    q = tf.constant(queries)
    loaded = psutil.Process().memory_info().rss
    with RssSampler(every=0.01) as sampler:
        got = fn(q)  # the first request also traces
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            got = fn(q)
            times.append(time.perf_counter() - start)
        sampler.samples.append((time.time(), psutil.Process().memory_info().rss))
    rows = [[int(i[1:]) for i in row] for row in got["item_ids"].numpy()]
    return {"median_ms": round(1000 * statistics.median(times), 1),
            "p90_ms": round(1000 * float(np.percentile(times, 90)), 1),
            "rss_catalogue_loaded_mb": round(loaded / 2**20, 1),
            # What serving adds above the loaded catalogue: one request's scores at least
            # (TensorFlow keeps its buffers), plus the traced graph.
            "rss_serving_peak_mb": round(max(r for _, r in sampler.samples) / 2**20, 1),
            "score_buffer_mb": round(4 * batch * (block or n) / 2**20, 3)}, rows


def index(args) -> dict:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    import numpy as np

    results = {}
    for n in args.candidates:
        entry, exact = {}, None
        for block in [0] + args.blocks:
            with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
                figures, rows = pool.submit(_index_one, n, block, args.dim, args.batch, args.k,
                                            args.repeats).result()
            exact = rows if exact is None else exact
            figures["same_top_k_as_whole_matrix"] = float(np.mean(
                [len(set(a) & set(b)) / args.k for a, b in zip(exact, rows)]))
            label = f"block_{block}" if block else "whole_matrix"
            entry[label] = figures
            print(json.dumps({n: {label: figures}}), flush=True)
        emb, queries = _catalogue(n, args.dim, args.batch)
        entry["scann"] = scann_recall(emb, queries, np.array(exact), args.k, args.scann_python)
        results[str(n)] = entry
    return {"index": {"by_candidates": results, "batch": args.batch, "dim": args.dim, "k": args.k,
                      "load": load(), **stamp()}}


def scann_recall(emb, queries, exact_rows, k: int, python: str) -> dict:
    """``benchmarks/scann_recall.py`` in the interpreter ``python`` (ScaNN's own virtualenv)."""
    import subprocess
    import tempfile

    import numpy as np

    if not python:
        return {"skipped": "no --scann-python given (ScaNN needs numpy 2: its own virtualenv)"}
    with tempfile.TemporaryDirectory(prefix="scann-") as d:
        paths = [os.path.join(d, f"{n}.npy") for n in ("emb", "queries", "exact")]
        for path, array in zip(paths, (emb, queries, exact_rows)):
            np.save(path, array)
        script = os.path.join(REPO_ROOT, "benchmarks", "scann_recall.py")
        done = subprocess.run([python, script, *paths, str(k)], capture_output=True, text=True, check=False)
    if done.returncode:
        return {"failed": done.stderr.strip().splitlines()[-1:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def statistics_sketches(args) -> dict:
    """Per size: StatisticsGen's graph with exact counts, then with sketches, each in a child
    process (``_statistics_one``) so neither inherits the other's freed memory."""
    import subprocess

    from recsys.evaluation.metadata import latest_output_uri
    from recsys.pipeline.local_runner import RunPaths

    results = {}
    for events in args.events:
        out_dir = os.path.join(args.output_root, f"stages-{events}")
        config = load_config(DEFAULT_CONFIG_PATH, synthetic_overrides(events, out_dir) + args.set)
        examples = latest_output_uri(RunPaths.from_config(config).metadata_path, "ImportExampleGen",
                                     "Examples")
        pattern = os.path.join(examples, "Split-train", "*")
        entry = {"load_before": load()}
        for mode in ("exact", "sketch"):
            done = subprocess.run([sys.executable, "-m", "benchmarks.scale", "_statistics_one",
                                   pattern, mode, *_beam(config)],
                                  capture_output=True, text=True, check=True, cwd=REPO_ROOT)
            entry[mode] = json.loads(done.stdout.strip().splitlines()[-1])
            print(json.dumps({str(events): {mode: entry[mode]}}), flush=True)
        entry["load_after"] = load()
        results[str(events)] = entry
    return {"statistics": {"by_events": results, **stamp()}}


def _statistics_one(pattern: str, mode: str, beam_args: list[str]) -> dict:
    """One ``tfdv.GenerateStatistics`` over ``pattern`` (this process: a fresh one per mode)."""
    import apache_beam as beam
    import tensorflow_data_validation as tfdv
    from apache_beam.options.pipeline_options import PipelineOptions
    from tfx_bsl.public import tfxio

    options = tfdv.StatsOptions(use_sketch_based_topk_uniques=mode == "sketch")
    start = time.time()
    with RssSampler() as sampler, tempfile.TemporaryDirectory(prefix="scale-stats-") as out:
        with beam.Pipeline(options=PipelineOptions(beam_args)) as p:
            _ = (p | tfxio.TFExampleRecord(file_pattern=pattern).BeamSource()
                 | tfdv.GenerateStatistics(options)
                 | tfdv.WriteStatisticsToBinaryFile(os.path.join(out, "stats.pb")))
    end = time.time()
    return {"seconds": round(end - start, 1), "peak_rss_mb": sampler.peak_mb(start, end),
            "cpu_seconds": sampler.cpu_seconds(start, end)}


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="part", required=True)
    if sys.argv[1:2] == ["_statistics_one"]:  # a child process of ``statistics``
        print(json.dumps(_statistics_one(sys.argv[2], sys.argv[3], sys.argv[4:])))
        return
    for name in ("stages", "trainer", "pipeline", "index", "statistics"):
        p = sub.add_parser(name)
        p.add_argument("--output-root", default="/tmp/scale-bench")
        p.add_argument("--set", action="append", default=[], help="config override section.key=value")
        p.add_argument("--no-record", action="store_true", help="print, do not write scale.json")
    sub.choices["stages"].add_argument("--events", type=_ints, default=[100_000, 1_000_000])
    sub.choices["statistics"].add_argument("--events", type=_ints, default=[100_000, 1_000_000])
    t = sub.choices["trainer"]
    t.add_argument("--events", type=_ints, default=[1_000_000])
    t.add_argument("--models", type=lambda s: s.split(","), default=["dcn"])
    t.add_argument("--epochs", type=int, default=2)
    t.add_argument("--reuse", action="store_true", help="reuse a stages run's Transform output")
    sub.choices["pipeline"].add_argument("--movielens", default="")
    sub.choices["pipeline"].add_argument("--label", default="", help="entry name suffix of a variant")
    i = sub.choices["index"]
    i.add_argument("--candidates", type=_ints, default=[100_000, 1_000_000])
    i.add_argument("--blocks", type=_ints, default=[65_536])
    i.add_argument("--dim", type=int, default=64)
    i.add_argument("--batch", type=int, default=32)
    i.add_argument("--k", type=int, default=100)
    i.add_argument("--repeats", type=int, default=20)
    i.add_argument("--scann-python", default="", help="an interpreter with scann (numpy 2)")
    args = ap.parse_args()
    update = {"stages": stages, "trainer": trainer, "pipeline": pipeline, "index": index,
              "statistics": statistics_sketches}[args.part](args)
    if not args.no_record:
        _merge(update)
    print(json.dumps(update, indent=2))


def _merge(update: dict) -> None:
    """Nested keys (``pipeline_components`` -> data set) merge rather than replace."""
    existing = {}
    if os.path.exists(RESULTS):
        with open(RESULTS) as fh:
            existing = json.load(fh)
    for key, value in update.items():
        if key in ("stages", "statistics"):  # sizes measured earlier stay unless measured again
            value = {**value, "by_events": {**existing.get(key, {}).get("by_events", {}),
                                            **value["by_events"]}}
        if key == "pipeline_components":
            value = {**existing.get(key, {}), **value}
        record(RESULTS, {key: value})


if __name__ == "__main__":
    main()
