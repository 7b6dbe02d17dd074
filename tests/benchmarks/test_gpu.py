"""The GPU benchmark's CPU half (``--cpu-only``) on a few hundred events: it measures every model
and records the run; the GPU half refuses clearly where TF sees no GPU."""

import json

import pytest
import tensorflow as tf

from benchmarks import gpu


def test_cpu_half_records_every_model(tmp_path):
    out = tmp_path / "gpu.json"
    entry = gpu.main(["--cpu-only", "--events", "300", "--epochs", "2", "--batch-size", "64",
                      "--output", str(out)])
    recorded = json.loads(out.read_text())["cpu_only"]
    assert recorded["train_examples_per_second"] == entry["train_examples_per_second"]
    assert set(recorded["train_examples_per_second"]) == set(gpu.MODELS)
    for model, figures in recorded["train_examples_per_second"].items():
        assert figures["cpu_float32"] > 0, model
    assert recorded["gpu"] is None and recorded["command"] and recorded["machine"]["cores"]


@pytest.mark.skipif(bool(tf.config.list_physical_devices("GPU")), reason="a GPU is present")
def test_gpu_half_fails_clearly_without_a_gpu():
    with pytest.raises(SystemExit, match=r"TensorFlow sees no GPU .* --cpu-only"):
        gpu.gpu_name()


def test_installs_the_locked_tensorflow():
    assert gpu.locked_tensorflow().startswith("2.16.")
