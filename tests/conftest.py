import os
import sys

# Keras 2 for TFRS/TFX: must be set before TensorFlow is imported by any test module.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import pytest  # noqa: E402  (after the environment above)


@pytest.fixture
def pipeline_nodes(tmp_path):
    """``overrides -> {node id: component}``: the pipeline ``recsys run`` would build (nothing
    runs) on a data root that claims 900 training and 100 eval rows."""
    def build_nodes(overrides=()):
        from recsys.config import load_config
        from recsys.pipeline.local_runner import build

        data_root = tmp_path / "data"
        data_root.mkdir(exist_ok=True)
        (data_root / "manifest.json").write_text('{"counts": {"train": 900, "eval": 100}}')
        config = load_config(None, [f"pipeline.output_dir={tmp_path}/runs", *overrides])
        return {c.id: c for c in build(config, str(data_root)).components}

    return build_nodes


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


# The slowest files, slowest first (setup + calls in the CI run of 2026-12-02 on 2 cores, where
# these nine took 6,258 s of the two workers' 8,433): scripts/test.sh runs two xdist workers with
# --dist loadfile --no-loadscope-reorder, which hand out files in this order, so the longest start
# first and the many short files fill in beside them instead of leaving one worker on a long file
# at the end. Everything else keeps its collection order.
SLOWEST_FIRST = (
    "tests/pipeline/test_crash_e2e.py",            # 3,024 s: seven pipeline runs, three killed
    "tests/pipeline/test_baseline_e2e.py",         # 707 s
    "tests/pipeline/test_pipeline_e2e.py",         # 563 s
    "tests/serving/test_serving_e2e.py",           # 500 s
    "tests/pipeline/test_gating_e2e.py",           # 495 s
    "tests/pipeline/test_bad_data_e2e.py",         # 365 s
    "tests/pipeline/test_trusted_metrics_e2e.py",  # 233 s
    "tests/pipeline/test_multitask_e2e.py",        # 231 s
    "tests/evaluation/test_callouts.py",           # 140 s (a real TFMA run with intervals)
)


def pytest_collection_modifyitems(config, items):
    rank = {path: i for i, path in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))  # stable
