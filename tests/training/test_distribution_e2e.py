"""Two worker processes on 127.0.0.1 train the tiny ranker with MultiWorkerMirroredStrategy: they
end with identical weights, report what one device reports, and the chief's export serves the
predictions of a one-worker run with the same global batch and seed."""

import numpy as np
import pytest
import tensorflow as tf

from benchmarks.multi_worker import Job, run_workers
from recsys.config import DistributeConfig, TrainConfig
from recsys.models.export import PREDICTION_KEYS
from tests.tiny import CONFIG, ROWS, tiny_transform, to_example, write_gz

# 60 examples, global batch 16: 4 steps an epoch, the last one short (12 = 6 per worker).
# No OOV dropout: its random draws would differ between one replica and two.
TRAIN = TrainConfig(epochs=2, batch_size=16, embedding_dim=4, deep_layers=(8,), learning_rate=0.01,
                    oov_dropout=0.0)
# Each worker process costs ~17 CPU seconds (TF's import, tracing, the export): three processes,
# well under a minute on an idle 2-core machine; several minutes at load ~16, where the first
# epoch alone took 100-150 s before AutoGraph was taken out of the steps. Beyond the timeout the
# workers dump their Python stacks and the test fails, naming where they were.
TIMEOUT = 300


def _serve(export_dir):
    raw = [{k: v for k, v in r.items() if k not in CONFIG.label_keys} for r in ROWS]
    signature = tf.saved_model.load(export_dir).signatures["serving_default"]
    return signature(examples=tf.constant([to_example(r) for r in raw]))[PREDICTION_KEYS["binary"]].numpy()


@pytest.mark.e2e
def test_two_workers_train_in_sync_and_export_what_one_worker_serves(tmp_path):
    data, _, out = tiny_transform()
    train = write_gz(data * 10, str(tmp_path / "train.gz"))  # one file: sharded by element
    evals = write_gz(data, str(tmp_path / "eval.gz"))
    job = Job(train, evals, out._transform_output_dir, str(tmp_path / "two"), CONFIG, TRAIN,
              # A collective waiting longer than this fails the step (DeadlineExceeded) rather
              # than blocking; generous, as a starved worker may still be tracing.
              DistributeConfig(strategy="multi_worker", timeout_seconds=180))
    two = run_workers(job, 2, str(tmp_path / "run2"), TIMEOUT)
    one = run_workers(Job(train, evals, out._transform_output_dir, str(tmp_path / "one"), CONFIG,
                          TRAIN, DistributeConfig(strategy="default")),
                      1, str(tmp_path / "run1"), TIMEOUT)[0]

    assert [r["replicas"] for r in two] == [2, 2]
    # All-reduced gradients: the workers' copies never diverge, bit for bit.
    assert two[0]["weights_sha256"] == two[1]["weights_sha256"]
    # Both report the figures one device reports on the same global batches (not their sum).
    for worker in two:
        np.testing.assert_allclose(worker["train_loss"], one["train_loss"], rtol=1e-4)
        assert worker["eval"]["auc"] == pytest.approx(one["eval"]["auc"], abs=1e-4)
    assert one["train_loss"][1] < one["train_loss"][0]  # it trained

    # Worker 0, the chief (the cluster names no "chief" task), exported to the job's directory.
    np.testing.assert_allclose(_serve(str(tmp_path / "two")), _serve(str(tmp_path / "one")),
                               rtol=1e-4, atol=1e-6)
