"""``beam_pipeline_args`` from the typed ``pipeline.beam`` config: the one place that knows each
Beam runner's flags, and checks before a run starts that the chosen runner has what it needs
(a Dataflow job without a ``gs://`` temp location fails only after minutes of staging).

The flags are Beam's own (``apache_beam.options.pipeline_options``); TFX hands the list unchanged
to every Beam-based component (ExampleGen, StatisticsGen, Transform, Evaluator).
"""

from __future__ import annotations

import os
import re

from recsys.config import CONFIG_DIR, BeamConfig, ConfigError

_HOST_PORT = re.compile(r"^[A-Za-z0-9_.\-\[\]:]+:\d{1,5}$")
# Portable runners whose SDK workers run where environment_type says.
_PORTABLE = ("FlinkRunner", "SparkRunner")
# Runners Beam knows only by their full class path: --runner=DaskRunner is refused by Beam 2.74
# ("Unexpected pipeline runner: DaskRunner").
_RUNNER_PATHS = {"DaskRunner": "apache_beam.runners.dask.dask_runner.DaskRunner"}
# Without a dependency flag every TFX Beam executor copies TFX's install to /tmp and builds an sdist
# of it for Beam's workers to install (tfx/utils/dependency_utils.py: 2.6 CPU s and 49 MB of /tmp
# left behind per Beam component), which the DirectRunner's workers, started from this very
# environment, never install. An empty --requirements_file satisfies TFX's check; skipping the
# requirements cache keeps Beam's stager from running `pip download` on it (with the lock file as
# the requirements, that download took tens of seconds and a registry per component).
DIRECT_RUNNER_DEPENDENCIES = (
    f"--requirements_file={os.path.join(CONFIG_DIR, 'beam', 'direct_runner_requirements.txt')}",
    "--requirements_cache=skip")
# The DirectRunner in one process (the Evaluator's with confidence intervals, ``evaluator_args``).
IN_ONE_PROCESS = ("--direct_running_mode=in_memory", "--direct_num_workers=1")


def _problems(beam: BeamConfig) -> list[str]:
    """Each missing or malformed setting of the chosen runner, naming the field and its value."""
    out = []
    if beam.runner == "DataflowRunner":
        for name in ("project", "region", "temp_location"):
            if not getattr(beam, name):
                out.append(f"config pipeline.beam.{name}: ''; expected a value for "
                           f"runner 'DataflowRunner'")
        if beam.temp_location and not beam.temp_location.startswith("gs://"):
            out.append(f"config pipeline.beam.temp_location: {beam.temp_location!r}; expected a "
                       "gs:// path for runner 'DataflowRunner' (its workers cannot see local files)")
    if beam.runner == "FlinkRunner" and beam.flink_master and beam.flink_master not in (
            "[auto]", "[local]") and not _HOST_PORT.match(beam.flink_master):
        out.append(f"config pipeline.beam.flink_master: {beam.flink_master!r}; expected host:port "
                   "of the Flink JobManager, '[local]' or '' (an embedded cluster)")
    if beam.runner == "SparkRunner" and beam.spark_master_url and not re.match(
            r"^(spark://[^\s]+:\d+|local(\[(\d+|\*)\])?)$", beam.spark_master_url):
        out.append(f"config pipeline.beam.spark_master_url: {beam.spark_master_url!r}; expected "
                   "spark://host:port, local[N] or '' (Beam's local[4])")
    if beam.runner == "DaskRunner" and beam.dask_client_address and not _HOST_PORT.match(
            beam.dask_client_address.removeprefix("tcp://")):
        out.append(f"config pipeline.beam.dask_client_address: {beam.dask_client_address!r}; "
                   "expected [tcp://]host:port of a dask.distributed scheduler")
    if beam.environment_type and beam.runner not in _PORTABLE:
        out.append(f"config pipeline.beam.environment_type: {beam.environment_type!r}; applies "
                   f"to the portable runners {', '.join(_PORTABLE)}, not {beam.runner!r}")
    if beam.environment_type == "EXTERNAL" and not _HOST_PORT.match(beam.environment_config):
        out.append(f"config pipeline.beam.environment_config: {beam.environment_config!r}; "
                   "expected host:port of an SDK worker pool for environment_type 'EXTERNAL'")
    for arg in beam.extra_args:
        if not arg.startswith("--"):
            out.append(f"config pipeline.beam.extra_args: {arg!r}; expected --flag[=value]")
    return out


def direct_mode(beam: BeamConfig, rows: int | None) -> tuple[str, int]:
    """(running mode, workers) of the DirectRunner for a run over ``rows`` prepared examples
    (None: not known, e.g. when compiling for another orchestrator).

    ``auto``: one in-memory process up to ``in_memory_max_rows``. Each multi_processing worker is
    a new Python process that imports TensorFlow, TFT, TFMA and TFDV for every Beam component,
    and every element crosses the Fn API between processes: on small data that fixed cost is
    most of a component's work. Beyond the bound one core loses to the workers. ExampleGen and
    the Evaluator keep their workers under ``auto`` (``example_gen_args``, ``evaluator_args``). README "Benchmarks / Pipeline" has the
    measurements behind both.
    """
    mode, workers = beam.direct_running_mode, beam.direct_num_workers or os.cpu_count() or 1
    if mode == "auto":
        small = rows is not None and rows <= beam.in_memory_max_rows
        mode, workers = ("in_memory", 1) if small else ("multi_processing", workers)
    return mode, workers


def evaluator_args(beam: BeamConfig, intervals: bool) -> list[str]:
    """The Evaluator's own DirectRunner flags, appended after the pipeline's (TFX puts component
    arguments last and Beam keeps the last of a repeated flag); [] keeps the pipeline's.

    - Confidence intervals on: one process. With several worker processes TFMA 0.47 loses some
      of the example-level pass's resamples between its sample step and its last combine, so
      AUC and its change get no interval and the interval gate refuses even a real improvement
      (ML-100K: 75 of 89 slices without an interval; benchmarks.interval_gate: "only 16 samples
      were non-empty" on the overall slice). In one process every resample arrives.
    - ``auto`` otherwise: every worker. TFMA's per-example model calls dominate its CPU, not the
      workers' start-up, so unlike the data stages the Evaluator gains from the second core.
    """
    if beam.runner == "DirectRunner" and intervals:
        return list(IN_ONE_PROCESS)
    return _auto_workers(beam)


def _auto_workers(beam: BeamConfig) -> list[str]:
    """Under ``auto`` on the DirectRunner, the flags of every worker (auto's multi-process choice,
    the size being unknown here); [] otherwise: the component keeps the pipeline's flags."""
    if beam.runner != "DirectRunner" or beam.direct_running_mode != "auto":
        return []
    mode, workers = direct_mode(beam, None)
    return [f"--direct_running_mode={mode}", f"--direct_num_workers={workers}"]


def example_gen_args(beam: BeamConfig) -> list[str]:
    """ExampleGen's own DirectRunner flags, appended after the pipeline's; [] keeps the pipeline's.

    ``auto``: every worker, as for the Evaluator. ExampleGen writes one gzip file per split and
    Beam bundle, and Beam reads a gzip file as one unsplittable bundle: in one in-memory process
    ExampleGen wrote one file per split, so of the Evaluator's two workers one read and scored the
    whole eval split (its Evaluator took 229 s against 175 s with the default's two files per
    split), while ExampleGen itself took 46 s in either mode.
    """
    return _auto_workers(beam)


def beam_pipeline_args(beam: BeamConfig, rows: int | None = None, local: bool = False) -> list[str]:
    """The Beam flags of ``beam`` for a run over ``rows`` prepared examples (``direct_mode``);
    ``ConfigError`` lists every problem at once. ``local``: the run is in this environment (the
    local runner), so the DirectRunner gets ``DIRECT_RUNNER_DEPENDENCIES``, whose file path is
    this machine's; a pipeline compiled for another orchestrator runs elsewhere and keeps TFX's
    default."""
    problems = _problems(beam)
    if problems:
        raise ConfigError(problems)
    # The DirectRunner is Beam's default: no --runner, so the local run's flags stay as they were.
    args = [] if beam.runner == "DirectRunner" else [
        f"--runner={_RUNNER_PATHS.get(beam.runner, beam.runner)}"]
    if beam.runner == "DirectRunner":
        mode, workers = direct_mode(beam, rows)
        args += [*(DIRECT_RUNNER_DEPENDENCIES if local else ()),
                 f"--direct_running_mode={mode}", f"--direct_num_workers={workers}"]
    elif beam.runner == "DataflowRunner":
        args += [f"--project={beam.project}", f"--region={beam.region}",
                 f"--temp_location={beam.temp_location}"]
    elif beam.runner == "FlinkRunner" and beam.flink_master:
        args += [f"--flink_master={beam.flink_master}"]
    elif beam.runner == "SparkRunner" and beam.spark_master_url:
        args += [f"--spark_master_url={beam.spark_master_url}"]
    elif beam.runner == "DaskRunner" and beam.dask_client_address:
        args += [f"--dask_client_address={beam.dask_client_address}"]
    if beam.environment_type:
        args += [f"--environment_type={beam.environment_type}"]
        if beam.environment_config:
            args += [f"--environment_config={beam.environment_config}"]
    return args + list(beam.extra_args)
