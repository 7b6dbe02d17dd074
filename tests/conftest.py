import os
import sys

# Keras 2 for TFRS/TFX: must be set before TensorFlow is imported by any test module.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import pytest  # noqa: E402  (after the environment above)


@pytest.fixture(scope="session")
def tfma_tiny_output(tmp_path_factory) -> str:
    """One tiny real TFMA result (``tests/tfma_tiny.py``) for every test that only reads one."""
    from tests import tfma_tiny

    return tfma_tiny.evaluate(str(tmp_path_factory.mktemp("tfma_tiny")))


@pytest.fixture(scope="session")
def tfma_tiny_intervals(tmp_path_factory) -> str:
    """The same evaluation with TFMA's jackknife intervals (and the interval gate's metric), plus
    a slice of one example and one user (``tfma_tiny.LONE_USER``), which has no interval."""
    from tests import tfma_tiny

    return tfma_tiny.evaluate(str(tmp_path_factory.mktemp("tfma_tiny_intervals")),
                              tfma_tiny.rows() + [tfma_tiny.LONE_USER], gate=tfma_tiny.JACKKNIFE)
