"""Two worker processes on 127.0.0.1 train the tiny ranker with MultiWorkerMirroredStrategy: they
end with identical weights, and the chief's export serves what the workers computed."""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from recsys.models.export import PREDICTION_KEYS
from tests.tiny import CONFIG, ROWS, tiny_transform, to_example, write_gz

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@pytest.mark.e2e
def test_two_workers_train_identical_weights_and_the_chief_exports_them(tmp_path):
    data, _, out = tiny_transform()
    train = write_gz(data * 10, str(tmp_path / "train.gz"))
    evals = write_gz(data, str(tmp_path / "eval.gz"))
    workers = [f"127.0.0.1:{p}" for p in _free_ports(2)]
    export_dir = str(tmp_path / "model")
    procs = []
    for index in range(2):
        env = {**os.environ, "PYTHONPATH": REPO, "CUDA_VISIBLE_DEVICES": "",
               "TF_CONFIG": json.dumps({"cluster": {"worker": workers},
                                        "task": {"type": "worker", "index": index}})}
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "tests.training.multi_worker", "--train", train, "--eval", evals,
             "--transform", out._transform_output_dir, "--export", export_dir,
             "--dump", str(tmp_path / f"worker{index}.npz")],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    logs = []
    try:
        for proc in procs:
            logs.append(proc.communicate(timeout=300)[0])
    finally:
        for proc in procs:
            proc.kill()
    for index, (proc, log) in enumerate(zip(procs, logs)):
        assert proc.returncode == 0, f"worker {index} failed:\n{log[-3000:]}"

    dumps = [np.load(tmp_path / f"worker{i}.npz") for i in range(2)]
    names = sorted(k for k in dumps[0].files if k.startswith("w"))
    assert names and names == sorted(k for k in dumps[1].files if k.startswith("w"))
    for name in names:  # all-reduced gradients: the replicas never diverge
        np.testing.assert_array_equal(dumps[0][name], dumps[1][name], err_msg=name)
    np.testing.assert_array_equal(dumps[0]["logits"], dumps[1]["logits"])
    # Worker 0 (the chief: the cluster has no "chief" task) wrote the real export; worker 1 a
    # temporary one, removed afterwards.
    assert str(dumps[0]["export_path"]) == export_dir
    assert str(dumps[1]["export_path"]) != export_dir
    assert not os.path.exists(str(dumps[1]["export_path"]))

    loaded = tf.saved_model.load(export_dir)
    raw = [{k: v for k, v in r.items() if k not in CONFIG.label_keys} for r in ROWS]
    served = loaded.signatures["serving_default"](
        examples=tf.constant([to_example(r) for r in raw]))[PREDICTION_KEYS["binary"]].numpy()
    expected = tf.sigmoid(dumps[0]["logits"].reshape(-1)).numpy()
    np.testing.assert_allclose(served, expected, rtol=1e-5, atol=1e-6)
    # Trained, not initial: the weights moved away from a fresh model's logits spread.
    assert len(np.unique(served.round(5))) > 1
