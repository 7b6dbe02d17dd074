"""The TFX module files pick Keras 2 themselves: TFX (and Beam's worker processes) import them by
name in processes that did not start through the CLI, and TFRS needs Keras 2. Importing the
``recsys`` package alone sets nothing (tests/recsys/test_layers.py)."""

import os
import subprocess
import sys

import pytest

from recsys.config import REPO_ROOT


@pytest.mark.parametrize("module", ["recsys.components.transform", "recsys.components.trainer",
                                    "recsys.components.retrieval_trainer"])
def test_module_file_gets_keras_2_in_a_fresh_process(module):
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    code = (f"import {module}, tensorflow as tf; "
            "print(tf.keras.__name__, tf.keras.__version__ if hasattr(tf.keras, '__version__') else '')")
    out = subprocess.run([sys.executable, "-c", code], env={**env, "TF_CPP_MIN_LOG_LEVEL": "3"},
                         cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    name = out.stdout.split()[0]
    assert name.startswith("tf_keras"), out.stdout  # Keras 2 (tf-keras), not keras 3
