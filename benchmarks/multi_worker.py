"""The ranker Trainer on several ``MultiWorkerMirroredStrategy`` workers on this machine (loopback,
127.0.0.1), against one worker: training examples/s into ``benchmarks/results/scale.json``
under ``"multi_worker"``.

    .venv/bin/python -m benchmarks.multi_worker                 # 1 worker, then 2 workers
    .venv/bin/python -m benchmarks.multi_worker worker ARGS     # one worker (what run_workers starts)

Each worker is a process of its own running ``training.ranker.train_and_export`` with a
``TF_CONFIG`` naming every worker: the same code a cluster runs on each machine. On one machine
the workers share its cores, so the figure is the overhead of the collectives, not a speed-up.
The data: ``--events`` synthetic events, analysed and transformed by the real
``preprocessing_fn`` (tf.Transform on Beam, in memory) into one gzipped TFRecord file, as the
Transform component writes them; examples/s is the Trainer's own steady-state figure (epochs
after the first). ``tests/training/test_distribution_e2e.py`` starts its workers with
``run_workers`` too.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # Keras 2, before TensorFlow is imported

from benchmarks.machine import record, stamp  # noqa: E402
from recsys.config import REPO_ROOT, DistributeConfig, TrainConfig, config_from_json  # noqa: E402
from recsys.features import FeatureConfig  # noqa: E402

RESULTS = os.path.join(REPO_ROOT, "benchmarks", "results", "scale.json")


def free_ports(n: int) -> list[int]:
    """``n`` ports free on 127.0.0.1 now (held open together, so they differ)."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


@dataclasses.dataclass
class Job:
    """What every worker trains: the files, the Transform output, the typed configs."""

    train_files: str
    eval_files: str
    transform_output: str
    export_dir: str
    features: FeatureConfig
    train: TrainConfig
    distribute: DistributeConfig = dataclasses.field(default_factory=DistributeConfig)


def run_workers(job: Job, workers: int, work_dir: str, timeout: float) -> list[dict]:
    """Runs ``job`` on ``workers`` processes (one: no ``TF_CONFIG``, TF's default strategy) and
    returns each worker's training result. A worker that fails, or a run that takes longer than
    ``timeout`` seconds (a collective that never completes), raises ``RuntimeError`` with the end
    of each worker's log: the workers dump their Python stacks before ``timeout`` and are killed
    at it, so a hang names where it hung instead of blocking."""
    os.makedirs(work_dir, exist_ok=True)
    spec = os.path.join(work_dir, "job.json")
    with open(spec, "w") as fh:
        json.dump({**dataclasses.asdict(job), "features": job.features.to_dict()}, fh)
    addresses = [f"127.0.0.1:{p}" for p in free_ports(workers)] if workers > 1 else []
    procs, logs = [], []
    for index in range(workers):
        env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "2",
               "PYTHONPATH": os.pathsep.join([REPO_ROOT, os.environ.get("PYTHONPATH", "")])}
        env.pop("TF_CONFIG", None)
        if addresses:
            env["TF_CONFIG"] = json.dumps({"cluster": {"worker": addresses},
                                           "task": {"type": "worker", "index": index}})
        logs.append(open(os.path.join(work_dir, f"worker{index}.log"), "w+"))
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "benchmarks.multi_worker", "worker", "--job", spec,
             "--result", os.path.join(work_dir, f"worker{index}.json"),
             "--dump-stacks-after", str(max(1.0, timeout - 15))],
            cwd=REPO_ROOT, env=env, stdout=logs[-1], stderr=subprocess.STDOUT))
    deadline = time.monotonic() + timeout
    try:
        for proc in procs:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        pass
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    failed = [i for i, proc in enumerate(procs) if proc.returncode != 0]
    if failed:
        tails = []
        for i, log in enumerate(logs):
            log.seek(0)
            tails.append(f"--- worker {i} (exit {procs[i].returncode}):\n{log.read()[-4000:]}")
        raise RuntimeError(f"workers {failed} of {workers} failed or did not finish within "
                           f"{timeout:.0f} s\n" + "\n".join(tails))
    for log in logs:
        log.close()
    results = []
    for index in range(workers):
        with open(os.path.join(work_dir, f"worker{index}.json")) as fh:
            results.append(json.load(fh))
    return results


def worker(argv) -> None:
    """One worker: ``train_and_export`` of the job file, its result written as JSON."""
    import faulthandler

    ap = argparse.ArgumentParser(prog="benchmarks.multi_worker worker")
    ap.add_argument("--job", required=True)
    ap.add_argument("--result", required=True)
    ap.add_argument("--dump-stacks-after", type=float, default=0)
    args = ap.parse_args(argv)
    if args.dump_stacks_after:
        # A collective that never completes blocks in C++; the stacks say which Python call.
        faulthandler.dump_traceback_later(args.dump_stacks_after, exit=True)
    from recsys.training.ranker import train_and_export

    with open(args.job) as fh:
        spec = json.load(fh)
    result = train_and_export(
        train_files=spec["train_files"], eval_files=spec["eval_files"],
        transform_output=spec["transform_output"], serving_model_dir=spec["export_dir"],
        features=FeatureConfig.from_dict(spec["features"]),
        train=config_from_json(TrainConfig, spec["train"]),
        distribute=config_from_json(DistributeConfig, spec["distribute"]))
    with open(args.result, "w") as fh:
        json.dump(result, fh)


def synthetic_examples(num_events: int, work: str) -> tuple[str, FeatureConfig]:
    """``num_events`` synthetic events, analysed and transformed by the real ``preprocessing_fn``
    (tf.Transform on Beam, in memory) into ``work/transformed.gz`` (gzipped tf.Examples, as the
    Transform component writes them) and the Transform output in ``work``."""
    import apache_beam as beam
    import tensorflow_transform as tft
    import tensorflow_transform.beam as tft_beam

    from recsys.components.transform import preprocessing_fn
    from recsys.config import DEFAULT_CONFIG_PATH, load_config
    from recsys.data.synthetic import SyntheticConfig, generate

    features = FeatureConfig.load(load_config(DEFAULT_CONFIG_PATH).features_path)
    spec = features.raw_feature_spec(with_labels=True)
    rows = [{k: r[k] for k in spec} for r in generate(SyntheticConfig(num_events=num_events))]
    metadata = tft.DatasetMetadata.from_feature_spec(spec)
    path = os.path.join(work, "transformed.gz")
    with beam.Pipeline() as p, tft_beam.Context(temp_dir=tempfile.mkdtemp(dir=work)):
        (data, out_metadata), fn = ((p | beam.Create(rows, reshuffle=False), metadata)
                                    | tft_beam.AnalyzeAndTransformDataset(
                                        lambda x: preprocessing_fn(x, {"features": features.to_dict()}),
                                        output_record_batches=False))
        coder = tft.coders.ExampleProtoCoder(out_metadata.schema)
        _ = (data | beam.Map(coder.encode)
             | beam.io.WriteToTFRecord(path, compression_type="gzip", shard_name_template=""))
        _ = fn | tft_beam.WriteTransformFn(work)
    from tensorflow_transform.tf_metadata import metadata_io

    metadata_io.write_metadata(metadata, os.path.join(work, tft.TFTransformOutput.RAW_METADATA_DIR))
    return path, features


def main(argv=None) -> dict:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["worker"]:
        worker(argv[1:])
        return {}
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=30_000)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=1024)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("--output", default=RESULTS)
    ap.add_argument("--note", default="")
    args = ap.parse_args(argv)
    start = time.perf_counter()
    load_before = os.getloadavg()
    work = tempfile.mkdtemp(prefix="bench-multi-worker-")
    path, features = synthetic_examples(args.events, work)
    train = TrainConfig(epochs=args.epochs, batch_size=args.batch_size)
    runs = {}
    for n in (1, args.workers):
        job = Job(path, path, work, os.path.join(work, f"export{n}"), features, train,
                  DistributeConfig(strategy="multi_worker" if n > 1 else "default",
                                   timeout_seconds=args.timeout / 2))
        results = run_workers(job, n, os.path.join(work, f"run{n}"), args.timeout)
        runs[n] = {"train_examples_per_second": round(results[0]["train_examples_per_second"]),
                   "epoch_seconds": results[0]["epoch_seconds"],
                   "replicas": results[0]["replicas"],
                   "workers_in_sync": len({r.get("weights_sha256") for r in results}) == 1}
    entry = {**stamp(), "load_average_1_5_15_before": [round(x, 2) for x in load_before],
             "load_average_1_5_15_after": [round(x, 2) for x in os.getloadavg()],
             "events": args.events, "epochs": args.epochs, "global_batch_size": args.batch_size,
             "model": train.model, "one_worker": runs[1], f"{args.workers}_workers": runs[args.workers],
             "ratio_to_one_worker": round(runs[args.workers]["train_examples_per_second"]
                                          / runs[1]["train_examples_per_second"], 3),
             "wall_seconds": round(time.perf_counter() - start, 1),
             "note": args.note or ("all workers share this machine's cores: the ratio is the "
                                   "overhead of the collectives, not a speed-up")}
    record(args.output, {"multi_worker": entry})
    print(json.dumps(entry, indent=2))
    return entry


if __name__ == "__main__":
    main()
