"""Which tf.distribute strategy the Trainers choose from the config and the environment, who
exports, how the input is sharded, and the training step's replica and loss-scale corrections."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from recsys.config import DistributeConfig, TrainConfig, load_config
from recsys.models.factory import build_ranker
from recsys.training import distribution
from recsys.training.optimizers import build_optimizer
from tests.tiny import CONFIG, tiny_transform

# Two logical CPUs for a real two-replica MirroredStrategy; possible only before TF's runtime
# starts (another test module may have started it: the test then runs in a process of its own).
try:
    tf.config.set_logical_device_configuration(tf.config.list_physical_devices("CPU")[0],
                                               [tf.config.LogicalDeviceConfiguration()] * 2)
except RuntimeError:
    pass
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

TWO_WORKERS = {"TF_CONFIG": json.dumps({"cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]},
                                        "task": {"type": "worker", "index": 1}})}


@pytest.mark.parametrize("strategy, environ, gpus, expected", [
    ("auto", {}, 0, "default"),
    ("auto", {}, 1, "default"),  # one GPU: TF places ops on it without a strategy
    ("auto", {}, 2, "mirrored"),
    ("auto", TWO_WORKERS, 0, "multi_worker"),
    ("auto", TWO_WORKERS, 4, "multi_worker"),  # several machines win over several local GPUs
    ("default", TWO_WORKERS, 2, "default"),  # an explicit choice is kept
    ("mirrored", {}, 0, "mirrored"),
])
def test_strategy_from_config_and_environment(strategy, environ, gpus, expected):
    assert distribution.choose(DistributeConfig(strategy=strategy), environ, gpus) == expected


def test_multi_worker_without_tf_config_and_a_malformed_tf_config_are_named():
    with pytest.raises(ValueError, match=r"distribute.strategy: 'multi_worker' needs TF_CONFIG"):
        distribution.choose(DistributeConfig(strategy="multi_worker"), {}, 0)
    with pytest.raises(ValueError, match=r"TF_CONFIG: '\{worker' is not JSON"):
        distribution.choose(DistributeConfig(), {"TF_CONFIG": "{worker"}, 0)


def test_config_section_and_its_choices():
    assert load_config(None, ["distribute.strategy=mirrored"]).distribute.strategy == "mirrored"
    with pytest.raises(ValueError, match=r"distribute.strategy: 'horovod'; expected one of 'auto'"):
        load_config(None, ["distribute.strategy=horovod"])


def test_the_default_strategy_exports_in_place_and_shards_nothing(tmp_path):
    strategy = distribution.make_strategy(DistributeConfig(), environ={})
    assert strategy.num_replicas_in_sync == 1 and distribution.is_chief(strategy)
    assert distribution.export_dir(strategy, str(tmp_path)) == str(tmp_path)
    policy = distribution.shard_options(1, strategy).experimental_distribute.auto_shard_policy
    assert policy == tf.data.experimental.AutoShardPolicy.FILE  # one worker: its one file


class _Resolver:  # what MultiWorkerMirroredStrategy exposes as cluster_resolver
    def __init__(self, cluster, task_type, task_id):
        self._cluster, self.task_type, self.task_id = cluster, task_type, task_id

    def cluster_spec(self):
        return tf.train.ClusterSpec(self._cluster)


class _Strategy:
    def __init__(self, cluster, task_type, task_id):
        self.cluster_resolver = _Resolver(cluster, task_type, task_id)


@pytest.mark.parametrize("cluster, task, chief", [
    ({"worker": ["a:1", "b:1"]}, ("worker", 0), True),  # no chief task: worker 0 is the chief
    ({"worker": ["a:1", "b:1"]}, ("worker", 1), False),
    ({"chief": ["c:1"], "worker": ["a:1"]}, ("chief", 0), True),
    ({"chief": ["c:1"], "worker": ["a:1"]}, ("worker", 0), False),
])
def test_only_the_chief_keeps_its_export(cluster, task, chief, tmp_path):
    strategy = _Strategy(cluster, *task)
    assert distribution.is_chief(strategy) is chief
    written = distribution.export_dir(strategy, str(tmp_path / "model"))
    assert (written == str(tmp_path / "model")) is chief
    distribution.discard_export(written, str(tmp_path / "model"))
    assert tf.io.gfile.exists(written) is False or chief


def test_sharding_by_file_only_when_every_worker_gets_a_file():
    two = _Strategy({"worker": ["a:1", "b:1"]}, "worker", 0)
    by = lambda n: distribution.shard_options(n, two).experimental_distribute.auto_shard_policy  # noqa: E731
    assert by(4) == tf.data.experimental.AutoShardPolicy.FILE
    assert by(1) == tf.data.experimental.AutoShardPolicy.DATA  # same seed, every worker: correct


def _ran_in_own_process(test: str, always: bool = False) -> bool:
    """Runs ``test`` in a pytest process of its own when this one has fewer than two logical
    CPUs (see the top of the module), or ``always``; True when it did (and it passed).
    ``always``: a second MirroredStrategy over the same CPUs in one process can reuse the first
    one's collective keys (seen as "Shape mismatch in the collective instance 100")."""
    if len(tf.config.list_logical_devices("CPU")) >= 2 and not (
            always and not os.environ.get("RECSYS_TEST_OWN_PROCESS")):
        return False
    name = f"{os.path.relpath(__file__, REPO)}::{test}"
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", name],
                          cwd=REPO, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "RECSYS_TEST_OWN_PROCESS": "1"})
    assert done.returncode == 0, done.stdout[-3000:]
    return True


def _batch(rows):
    skip = set(CONFIG.label_keys) | set(CONFIG.passthrough_keys())
    return {k: tf.constant(np.stack([r[k] for r in rows])) for k in rows[0] if k not in skip}


def _seeded_ranker(strategy, train, sizes, features, learning_rate):
    """The same initial ranker under any strategy (seeded, built on ``features``), with SGD."""
    tf.keras.utils.set_random_seed(3)
    with strategy.scope():
        model = build_ranker(train, CONFIG, sizes)
        model(features)
        model.compile(optimizer=tf.keras.optimizers.SGD(learning_rate))
    return model


def _one_step(model, features, labels):
    model.train_step((features, labels))
    return [v.numpy() for v in model.trainable_variables]


def test_two_replicas_take_the_same_step_as_one_device():
    """Two CPU replicas (each half the batch) end one SGD step with the weights of one device on
    the whole batch: the step divides the mean loss by the replica count. Without it the
    all-reduced gradient, hence the step, would be twice as large."""
    if _ran_in_own_process("test_two_replicas_take_the_same_step_as_one_device"):
        return
    data, _, out = tiny_transform()
    train = TrainConfig(embedding_dim=4, deep_layers=(8,), oov_dropout=0.0, embedding_l2=0.1)
    sizes = CONFIG.vocabulary_sizes(out)
    features, labels = _batch(data[:4]), tf.constant([[float(r["label"])] for r in data[:4]])

    def weights_after_step(strategy):
        model = _seeded_ranker(strategy, train, sizes, features, 0.5)
        before = [v.numpy() for v in model.trainable_variables]
        ds = tf.data.Dataset.from_tensor_slices((features, labels)).batch(4)
        step = tf.function(lambda x: strategy.run(model.train_step, args=(x,)))
        for batch in strategy.experimental_distribute_dataset(ds):
            step(batch)
        return before, [v.numpy() for v in model.trainable_variables]

    before1, one = weights_after_step(tf.distribute.get_strategy())
    cpus = [d.name for d in tf.config.list_logical_devices("CPU")][:2]
    before2, two = weights_after_step(tf.distribute.MirroredStrategy(cpus))
    for a, b in zip(before1, before2):
        np.testing.assert_allclose(a, b)  # same start
    moved = [not np.allclose(a, b) for a, b in zip(before1, one)]
    assert any(moved)
    for a, b in zip(one, two):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_two_replicas_report_what_one_device_reports():
    """fit's and evaluate's loss and AUC on two CPU replicas equal one device's on the same
    batches. Keras' default reduction sums the replicas' outputs: the AUC (already global)
    doubled and the loss was the sum of the replicas' halves."""
    if _ran_in_own_process("test_two_replicas_report_what_one_device_reports", always=True):
        return
    data, _, out = tiny_transform()
    train = TrainConfig(embedding_dim=4, deep_layers=(8,), oov_dropout=0.0)
    sizes = CONFIG.vocabulary_sizes(out)
    features = _batch(data[:4])
    labels = tf.constant([[float(r["label"])] for r in data[:4]])
    ds = tf.data.Dataset.from_tensor_slices((features, labels)).batch(4)  # one batch, 2 a replica

    def reported(strategy):
        model = _seeded_ranker(strategy, train, sizes, features, 0.1)
        fitted = model.fit(ds, epochs=1, verbose=0).history
        return {k: v[0] for k, v in fitted.items()}, model.evaluate(ds, return_dict=True, verbose=0)

    one = reported(tf.distribute.get_strategy())
    two = reported(tf.distribute.MirroredStrategy([d.name for d in tf.config.list_logical_devices("CPU")][:2]))
    assert 0 < one[0]["auc"] < 1 and 0 < one[1]["auc"] < 1
    for one_device, two_replicas in zip(one, two):
        for key in ("auc", "loss", "logloss"):
            assert two_replicas[key] == pytest.approx(one_device[key], rel=1e-4), key


def test_mixed_float16_scales_the_loss_and_unscales_the_gradients():
    """Under mixed_float16 (forced here on a CPU) compile wraps the optimizer in a
    LossScaleOptimizer and the step runs through it: a finite step that moves the weights."""
    data, _, out = tiny_transform()
    sizes = CONFIG.vocabulary_sizes(out)
    features, labels = _batch(data), tf.constant([[float(r["label"])] for r in data])
    train = TrainConfig(embedding_dim=4, deep_layers=(8,), oov_dropout=0.0)
    tf.keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        tf.keras.utils.set_random_seed(3)
        model = build_ranker(train, CONFIG, sizes)
        model(features)
        model.compile(optimizer=build_optimizer(model, train))
        assert isinstance(model.optimizer, tf.keras.mixed_precision.LossScaleOptimizer)
        before = [v.numpy() for v in model.trainable_variables]
        model.train_step((features, labels))
        after = [v.numpy() for v in model.trainable_variables]
        assert any(not np.array_equal(a, b) for a, b in zip(before, after))  # a finite step
        assert all(np.isfinite(a).all() for a in after)
    finally:
        tf.keras.mixed_precision.set_global_policy("float32")
