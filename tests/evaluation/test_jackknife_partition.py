"""TFMA 0.47's jackknife draws its buckets from a RandomState pickled into the graph: every Beam
worker unpickles the same state and sends its k-th element to the same bucket
(``evaluation/jackknife_partition.py``). Fast: the graph is built, never run."""

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.internal import pickler
from tensorflow_model_analysis.evaluators import jackknife

from recsys.evaluation import jackknife_partition


def _partition_fn(seed=None):
    """The partition function TFMA's own transform puts into the graph, as a worker gets it."""
    p = beam.Pipeline()
    _ = (p | beam.Create([((), {})])
         | jackknife.ComputeWithConfidenceIntervals(  # pylint: disable=no-value-for-parameter
             computations_combine_fn=beam.combiners.CountCombineFn(),
             derived_metrics_ptransform=beam.Map(lambda x: x), num_jackknife_samples=20,
             random_seed_for_testing=seed))
    [partition] = [t.transform for t in p.transforms_stack[0].parts[-1].parts
                   if isinstance(t.transform, beam.Partition)]
    return partition.fn  # a PartitionFn wrapping TFMA's closure over the RandomState


def _draws(fn, n=200):
    worker_copy = pickler.loads(pickler.dumps(fn))  # what Beam ships to each worker
    return [worker_copy.partition_for(("slice", i), 20) for i in range(n)]


@pytest.fixture
def installed(monkeypatch):
    monkeypatch.setattr(jackknife, "np", jackknife.np)  # undone after the test
    jackknife_partition.install()


def test_tfmas_own_partition_gives_every_worker_the_same_buckets(monkeypatch):
    """The flaw, documented: two workers' copies draw identical buckets (if TFMA fixes it, this
    fails and jackknife_partition.py can go)."""
    # TFMA's module as shipped, even after a pipeline built earlier in this session installed the fix.
    monkeypatch.setattr(jackknife, "np", np)
    fn = _partition_fn()
    assert _draws(fn) == _draws(fn)


def test_with_the_fix_each_worker_draws_its_own_buckets(installed):
    fn = _partition_fn()
    a, b = _draws(fn), _draws(fn)
    assert a != b
    # Still a uniform draw over the 20 buckets: each copy uses every bucket on 200 elements.
    assert set(a) == set(b) == set(range(20))


def test_a_test_seed_still_repeats(installed):
    fn = _partition_fn(seed=7)
    assert _draws(fn) == _draws(fn)


def test_install_is_idempotent(installed):
    jackknife_partition.install()
    assert jackknife.np.random.RandomState is jackknife_partition.WorkerRandomState


@pytest.mark.parametrize("method, fixed", [("jackknife", True), ("off", False), ("bootstrap", False)])
def test_create_pipeline_installs_the_fix_only_for_the_jackknife(tmp_path, monkeypatch, method, fixed):
    """The fix reaches real runs only because ``create_pipeline`` installs it before the
    Evaluator builds its graph; without the jackknife TFMA's module stays untouched."""
    from recsys.config import load_config
    from recsys.pipeline.kubeflow_runner import compile_pipeline_spec

    monkeypatch.setattr(jackknife, "np", np)  # as shipped, whatever ran before; undone after
    config = load_config(None, [f"pipeline.output_dir={tmp_path}/runs",
                                f"eval.confidence_intervals={method}"])
    compile_pipeline_spec(config, image="registry.example/recsys:1", data_root=str(tmp_path / "data"),
                          output_path=str(tmp_path / "pipeline.json"))
    assert (getattr(jackknife.np.random, "RandomState", None)
            is jackknife_partition.WorkerRandomState) is fixed
