"""Gives TFMA 0.47's jackknife a bucket draw of its own in every Beam worker.

TFMA's jackknife (``evaluators/jackknife.py``, ``ComputeWithConfidenceIntervals``) splits the
examples into 20 buckets with ``beam.Partition(partition_fn)``, where ``partition_fn`` draws from
one ``np.random.RandomState`` created while the graph is built. Beam pickles that state into the
graph, so every worker (and every bundle processor a worker builds) unpickles the very same state
and draws the very same sequence: the k-th element each copy partitions goes to the same bucket
in all of them. With the project's two DirectRunner workers every bucket's count comes out even
(each assignment made twice); the more copies (workers, concurrent bundle processors) and the
smaller their inputs, the more a slice's examples crowd into the few buckets the first draws
name: not the independent random split the jackknife's interval assumes.
``tests/evaluation/test_jackknife_partition.py`` shows the shared sequence on TFMA's own
transform.

``install()`` swaps the ``RandomState`` the jackknife module builds for ``WorkerRandomState``:
the same ``randint`` draw, but its generator is created lazily, after unpickling, from the
operating system's entropy, so each copy draws its own sequence. A seed (TFMA's
``random_seed_for_testing``) is kept as given: tests stay deterministic. Nothing else in TFMA
changes; TFMA still computes and merges the intervals. Hand-written because TFMA 0.47 has no
option for it; remove when TFMA draws per worker (its ``poisson_bootstrap`` already seeds in
``setup``).
"""

from __future__ import annotations

import os
import types

import numpy as np


class WorkerRandomState:
    """Stands in for ``np.random.RandomState(seed)`` in TFMA's jackknife (only ``randint`` is used
    there). Pickles without its generator: each unpickled copy makes its own on first use."""

    def __init__(self, seed: int | None = None):
        self._seed = seed
        self._rng: np.random.RandomState | None = None

    def __getstate__(self) -> dict:
        return {"seed": self._seed}

    def __setstate__(self, state: dict) -> None:
        self._seed, self._rng = state["seed"], None

    def randint(self, high: int) -> int:
        if self._rng is None:
            seed = self._seed if self._seed is not None else int.from_bytes(os.urandom(4), "little")
            self._rng = np.random.RandomState(seed)
        return int(self._rng.randint(high))


def install() -> None:
    """Make TFMA's jackknife build ``WorkerRandomState``; idempotent. Call before the Evaluator
    builds its Beam graph (``pipeline.create_pipeline`` does)."""
    from tensorflow_model_analysis.evaluators import jackknife

    if getattr(jackknife.np, "random", None) is not None and \
            jackknife.np.random.RandomState is WorkerRandomState:
        return
    # ``np`` in that module is used for exactly this one call (TFMA 0.47); a namespace that
    # answers only ``np.random.RandomState`` makes any other use fail loudly, not silently.
    jackknife.np = types.SimpleNamespace(random=types.SimpleNamespace(RandomState=WorkerRandomState))
