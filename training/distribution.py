"""The ``tf.distribute`` strategy both Trainers (ranker and retriever) train under, chosen from the
``[distribute]`` config and the environment, and what changes with it: who exports.

* ``default``: TensorFlow's default strategy: the CPU, or the one GPU TF places ops on.
* ``mirrored``: ``MirroredStrategy``, one replica per local GPU, gradients all-reduced each step.
* ``multi_worker``: ``MultiWorkerMirroredStrategy`` over the machines ``TF_CONFIG`` names (each
  process runs the same Trainer code; TF's collectives keep their variables identical).
* ``auto`` (default): ``multi_worker`` when ``TF_CONFIG`` names more than one task, else
  ``mirrored`` when there are several GPUs, else ``default``.

Batches: ``batch_size`` in the config is the **global** batch, the examples of one optimizer step
across all replicas. Keras' ``fit`` distributes the dataset (``experimental_distribute_dataset``),
which splits each global batch into per-replica batches of ``batch_size / replicas``, so a run's
learning rate and steps per epoch do not change with the number of devices.

Sharding: under ``multi_worker`` every worker builds the same input pipeline and tf.data's
auto-sharding gives each one its part. With at least as many input files as workers it shards by
file (each worker reads only its files); with fewer (tiny data, one Transform shard) it falls back
to sharding by element, which is correct only because every worker shuffles with the same seed
(``train.seed``); ``shard_options`` sets the policy explicitly, so which one applies is decided
here rather than by a warning in the log.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile

import tensorflow as tf

from recsys.config import DistributeConfig


def tf_config(environ=None) -> dict:
    """``TF_CONFIG`` parsed; ``{}`` when unset. A malformed one is an error naming it."""
    raw = (os.environ if environ is None else environ).get("TF_CONFIG", "")
    if not raw:
        return {}
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError as e:
        raise ValueError(f"TF_CONFIG: {raw!r} is not JSON ({e}); expected "
                         '{"cluster": {"worker": ["host:port", ...]}, "task": {"type": "worker", '
                         '"index": 0}}') from None
    if not isinstance(parsed, dict) or not isinstance(parsed.get("cluster", {}), dict):
        raise ValueError(f"TF_CONFIG: {raw!r}; expected an object with a 'cluster' object")
    return parsed


def cluster_size(config: dict) -> int:
    """How many tasks (chief + workers) ``TF_CONFIG``'s cluster names."""
    cluster = config.get("cluster", {})
    return sum(len(cluster.get(role, ())) for role in ("chief", "worker"))


def choose(distribute: DistributeConfig, environ=None, gpus: int | None = None) -> str:
    """The strategy name ``distribute.strategy`` resolves to here: default | mirrored |
    multi_worker. ``environ`` and ``gpus`` default to this process's (tests pass their own)."""
    config = tf_config(environ)
    if gpus is None:
        gpus = len(tf.config.list_physical_devices("GPU"))
    name = distribute.strategy
    if name == "auto":
        name = ("multi_worker" if cluster_size(config) > 1 else
                "mirrored" if gpus > 1 else "default")
    if name == "multi_worker" and cluster_size(config) < 1:
        raise ValueError("config distribute.strategy: 'multi_worker' needs TF_CONFIG naming the "
                         "cluster's workers; TF_CONFIG is unset or names none")
    return name


def make_strategy(distribute: DistributeConfig, environ=None) -> tf.distribute.Strategy:
    """The strategy to build the model and optimizer under (``with strategy.scope():``).

    A ``MultiWorkerMirroredStrategy`` must be created before any other TF op runs in the process
    (it starts the collective server); the Trainers call this first."""
    name = choose(distribute, environ)
    if name == "multi_worker":
        implementation = {"auto": tf.distribute.experimental.CommunicationImplementation.AUTO,
                          "ring": tf.distribute.experimental.CommunicationImplementation.RING,
                          "nccl": tf.distribute.experimental.CommunicationImplementation.NCCL
                          }[distribute.communication]
        return tf.distribute.MultiWorkerMirroredStrategy(
            communication_options=tf.distribute.experimental.CommunicationOptions(
                implementation=implementation, timeout_seconds=distribute.timeout_seconds or None))
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def shard_options(num_files: int, strategy: tf.distribute.Strategy) -> tf.data.Options:
    """Dataset options for ``strategy``: by file when every worker gets a file, else by element
    (see the module docstring); no effect without several workers."""
    options = tf.data.Options()
    resolver = getattr(strategy, "cluster_resolver", None)
    workers = max(1, sum(len(resolver.cluster_spec().as_dict().get(role, ()))
                         for role in ("chief", "worker"))) if resolver else 1
    policy = (tf.data.experimental.AutoShardPolicy.FILE if num_files >= workers
              else tf.data.experimental.AutoShardPolicy.DATA)
    options.experimental_distribute.auto_shard_policy = policy
    return options


def weights_fingerprint(model) -> str:
    """sha256 of every weight's bytes, in the model's order: equal on every worker exactly when
    their copies of the model are identical (the all-reduce gives every worker the same sums), so
    a multi-worker run's report shows at a glance whether its workers stayed in sync."""
    digest = hashlib.sha256()
    for weight in model.weights:
        digest.update(weight.numpy().tobytes())
    return digest.hexdigest()


def is_multi_worker(strategy: tf.distribute.Strategy) -> bool:
    resolver = getattr(strategy, "cluster_resolver", None)
    return resolver is not None and bool(resolver.cluster_spec().as_dict())


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes the real export: always, except under multi-worker training,
    where only the chief (or worker 0 when the cluster has no chief) does."""
    if not is_multi_worker(strategy):
        return True
    resolver = strategy.cluster_resolver
    task_type, task_id = resolver.task_type, resolver.task_id
    return task_type == "chief" or (task_type == "worker" and task_id == 0 and
                                    "chief" not in resolver.cluster_spec().as_dict())


def export_dir(strategy: tf.distribute.Strategy, path: str) -> str:
    """Where this process saves the model. Under multi-worker training every worker must take
    part in saving (variables are read collectively), but only the chief's copy is kept: the
    others write to a temporary directory, as TF's multi-worker Keras guide prescribes, which
    ``discard_export`` removes."""
    if is_chief(strategy):
        return path
    return tempfile.mkdtemp(prefix=f"worker{strategy.cluster_resolver.task_id}-export-")


def discard_export(written: str, path: str) -> None:
    """Removes a non-chief worker's temporary export (``export_dir``)."""
    if written != path:
        tf.io.gfile.rmtree(written)


def build_variables(strategy: tf.distribute.Strategy, model, batch) -> None:
    """Creates every variable of a TFRS model (layers, heads, task metrics) by one eager loss
    computation on ``batch``, under the strategy's scope, before ``fit``. Keras would create them
    lazily inside ``fit``'s traced step; under ``MultiWorkerMirroredStrategy`` each new variable's
    initial value is broadcast from worker 0 by a collective, and created there it hung the
    two-worker test in that broadcast. Called after ``compile`` (``models/train_step.py`` lets the
    tasks' mean losses run under a strategy there). Metrics touched here are reset (``fit`` resets them too).
    Only under multi-worker training: elsewhere the lazy creation works, and a run on one machine
    draws its random numbers exactly as before."""
    if not is_multi_worker(strategy):
        return
    # In replica context: the task metrics' sync-on-read variables refuse updates outside it.
    strategy.run(model.compute_loss, args=(batch,), kwargs={"training": False})
    for metric in model.metrics:
        metric.reset_state()
