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


# One full pipeline run that several e2e tests only read (tests/e2e_runs.py says which and why).
@pytest.fixture(scope="session")
def synthetic_e2e_run(tmp_path_factory):
    """(config, report) of one full run of ``SYNTHETIC_E2E`` in its own output directory."""
    from recsys.pipeline.local_runner import run
    from tests.e2e_runs import synthetic_e2e_config

    config = synthetic_e2e_config(str(tmp_path_factory.mktemp("synthetic-e2e")))
    return config, run(config)


def pytest_configure(config):
    config.addinivalue_line("markers", "shared_run(order): uses synthetic_e2e_run; higher orders run "
                                       "after lower ones (they change the shared root)")


def pytest_collection_modifyitems(items):
    # Only the shared-run tests move, among the slots they already hold: a stable sort by order.
    slots = [i for i, item in enumerate(items) if item.get_closest_marker("shared_run")]
    ordered = sorted((items[i] for i in slots),
                     key=lambda item: item.get_closest_marker("shared_run").kwargs.get("order", 0))
    for i, item in zip(slots, ordered):
        items[i] = item
