"""One-shot GPU benchmark: training examples/s of DCN-v2, Wide&Deep, DIN and the two-tower model on
the GPU (float32, then mixed precision + XLA) and on the CPU, in one run, into
``benchmarks/results/gpu.json``.

Run it once on a machine with an NVIDIA GPU and the driver for CUDA 12 (TF 2.16's wheels bring
CUDA 12.3 and cuDNN 8.9 themselves as ``nvidia-*-cu12`` packages, pinned by the
``tensorflow[and-cuda]`` extra of the locked ``tensorflow`` version):

    .venv/bin/python -m benchmarks.gpu --install     # pip installs tensorflow[and-cuda]==<lock>
    .venv/bin/python -m benchmarks.gpu               # fails at once if TF sees no GPU

``--cpu-only`` measures the CPU half alone (the tests run it on a few hundred events). The data:
``--events`` synthetic events (``data/synthetic.py``), analysed by the real ``preprocessing_fn``
(tf.Transform on Beam, in memory) and transformed by the saved Transform graph, held in memory:
the figures are the models' training speed, not the input pipeline's. Each configuration trains
``--epochs`` epochs; examples/s is the median over the epochs after the first (which traces and,
with XLA, compiles). About 2 minutes on 2 CPU cores at the defaults; the GPU adds seconds.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # Keras 2, before TensorFlow is imported

from benchmarks.machine import record, stamp  # noqa: E402
from recsys.config import DEFAULT_CONFIG_PATH, REPO_ROOT, RetrievalConfig, TrainConfig, load_config  # noqa: E402
from recsys.features import FeatureConfig  # noqa: E402

RESULTS = os.path.join(REPO_ROOT, "benchmarks", "results", "gpu.json")
LOCK = os.path.join(REPO_ROOT, "requirements.lock.txt")
MODELS = ("dcn", "wide_deep", "din", "two_tower")


def locked_tensorflow() -> str:
    """The ``tensorflow`` version the lock file pins (the GPU variant must be the same build)."""
    with open(LOCK) as fh:
        for line in fh:
            m = re.match(r"^tensorflow==([\w.]+)$", line.strip())
            if m:
                return m.group(1)
    raise SystemExit(f"error: {LOCK} pins no tensorflow==<version>")


def install() -> None:
    """``tensorflow[and-cuda]`` at the locked version, into this interpreter's environment."""
    spec = f"tensorflow[and-cuda]=={locked_tensorflow()}"
    print(f"installing {spec}", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", spec], check=True)


def gpu_name() -> str:
    """The first GPU TF sees, or a clear exit naming what is missing."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        built = tf.sysconfig.get_build_info()
        raise SystemExit(
            "error: TensorFlow sees no GPU (tf.config.list_physical_devices('GPU') is empty). "
            f"This TF {tf.__version__} was built for CUDA {built.get('cuda_version', '?')} / cuDNN "
            f"{built.get('cudnn_version', '?')}: check `nvidia-smi`, run with --install for "
            "tensorflow[and-cuda], or use --cpu-only")
    details = tf.config.experimental.get_device_details(gpus[0])
    return details.get("device_name", gpus[0].name)


def transformed_data(num_events: int, work: str):
    """(transformed feature arrays, vocabulary sizes, feature config) of ``num_events`` synthetic
    events: the vocabularies and statistics by tf.Transform on Beam, the rows by the saved graph."""
    import apache_beam as beam
    import numpy as np
    import tensorflow as tf
    import tensorflow_transform as tft
    import tensorflow_transform.beam as tft_beam

    from recsys.components.transform import preprocessing_fn
    from recsys.data.canonical import to_tf_example
    from recsys.data.synthetic import SyntheticConfig, generate

    config = load_config(DEFAULT_CONFIG_PATH)
    features = FeatureConfig.load(config.features_path)
    spec = features.raw_feature_spec(with_labels=True)
    records = list(generate(SyntheticConfig(num_events=num_events)))
    rows = [{k: r[k] for k in spec} for r in records]
    metadata = tft.DatasetMetadata.from_feature_spec(spec)
    with beam.Pipeline() as p, tft_beam.Context(temp_dir=tempfile.mkdtemp(dir=work)):
        fn = ((p | beam.Create(rows, reshuffle=False), metadata) | tft_beam.AnalyzeDataset(
            lambda x: preprocessing_fn(x, {"features": features.to_dict()})))
        _ = fn | tft_beam.WriteTransformFn(work)
    out = tft.TFTransformOutput(work)
    layer = out.transform_features_layer()
    skip = set(features.passthrough_keys())
    columns: dict[str, list] = {}
    for i in range(0, len(records), 4096):
        serialized = tf.constant([to_tf_example(r).SerializeToString() for r in records[i:i + 4096]])
        batch = layer(tf.io.parse_example(serialized, spec))
        for k, v in batch.items():
            if k not in skip:
                columns.setdefault(k, []).append(v.numpy())
    return {k: np.concatenate(v) for k, v in columns.items()}, features.vocabulary_sizes(out), features


def _examples_per_second(model, dataset, examples: int, epochs: int) -> float:
    from recsys.training.ranker import EpochTimer

    timer = EpochTimer()
    model.fit(dataset, epochs=epochs, callbacks=[timer], verbose=0)
    return examples / statistics.median(timer.seconds[1:] or timer.seconds)


def measure(name: str, data, sizes, features: FeatureConfig, *, device: str, fast: bool,
            epochs: int, batch_size: int) -> float:
    """Training examples/s of model ``name`` on ``device``; ``fast``: mixed precision + XLA."""
    import numpy as np
    import tensorflow as tf

    from recsys.models.factory import build_ranker
    from recsys.models.retrieval import CANDIDATE_SIDES, TwoTowerModel, transformed_keys
    from recsys.training.optimizers import build_optimizer
    from recsys.training.precision import configure_precision

    train = TrainConfig(model=name if name != "two_tower" else "dcn", batch_size=batch_size,
                        mixed_precision=fast, jit_compile=fast)
    configure_precision(train)  # float16 on a GPU (the CPU half runs float32 only)
    labels = set(features.label_keys)
    n = len(next(iter(data.values())))
    try:
        with tf.device(device):
            tf.keras.utils.set_random_seed(0)
            if name == "two_tower":
                inputs = {k: v for k, v in data.items() if k not in labels}
                keys = transformed_keys(features, CANDIDATE_SIDES)
                _, first = np.unique(data[features.item_key], return_index=True)
                model = TwoTowerModel(
                    features, sizes, RetrievalConfig(batch_size=batch_size),
                    item_probability=np.full(sizes[features.item_key], 1 / sizes[features.item_key],
                                             np.float32),
                    catalog={k: data[k][first] for k in keys})
                model.compile(optimizer=tf.keras.optimizers.Adam(0.003), jit_compile=fast)
                ds = tf.data.Dataset.from_tensor_slices(inputs)
            else:
                model = build_ranker(train, features, sizes)
                model.compile(optimizer=build_optimizer(model, train), jit_compile=fast)
                label = data[features.label_key("binary")].astype(np.float32)
                ds = tf.data.Dataset.from_tensor_slices(
                    ({k: v for k, v in data.items() if k not in labels}, label))
            ds = ds.shuffle(n, seed=0).batch(batch_size).cache().prefetch(tf.data.AUTOTUNE)
            return _examples_per_second(model, ds, n, epochs)
    finally:
        tf.keras.mixed_precision.set_global_policy("float32")


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--install", action="store_true", help="pip install tensorflow[and-cuda] first")
    ap.add_argument("--cpu-only", action="store_true", help="only the CPU half (no GPU needed)")
    ap.add_argument("--events", type=int, default=60_000)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=4096)
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--output", default=RESULTS)
    ap.add_argument("--note", default="")
    args = ap.parse_args(argv)
    models = [m for m in args.models.split(",") if m]
    bad = [m for m in models if m not in MODELS]
    if bad:
        ap.error(f"--models {','.join(bad)}: expected some of {','.join(MODELS)}")
    if args.install:
        install()
    start = time.perf_counter()
    gpu = None if args.cpu_only else gpu_name()
    work = tempfile.mkdtemp(prefix="bench-gpu-")
    data, sizes, features = transformed_data(args.events, work)
    runs = [("cpu_float32", "/CPU:0", False)]
    if gpu:
        runs = [("gpu_float32", "/GPU:0", False), ("gpu_mixed_xla", "/GPU:0", True)] + runs
    figures = {m: {label: round(measure(m, data, sizes, features, device=device, fast=fast,
                                        epochs=args.epochs, batch_size=args.batch_size))
                   for label, device, fast in runs} for m in models}
    if gpu:
        for m in models:
            figures[m]["gpu_speedup_over_cpu"] = round(
                max(figures[m]["gpu_float32"], figures[m]["gpu_mixed_xla"]) / figures[m]["cpu_float32"], 1)
    import tensorflow as tf

    entry = {**stamp(), "gpu": gpu, "tensorflow": tf.__version__,
             "cuda": tf.sysconfig.get_build_info().get("cuda_version"),
             "events": args.events, "epochs": args.epochs, "batch_size": args.batch_size,
             "train_examples_per_second": figures, "wall_seconds": round(time.perf_counter() - start, 1),
             "note": args.note}
    record(args.output, {"cpu_only" if args.cpu_only else "gpu": entry})
    print(figures)
    return entry


if __name__ == "__main__":
    main()
