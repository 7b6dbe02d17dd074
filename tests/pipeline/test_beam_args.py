"""``beam_pipeline_args`` from the typed ``pipeline.beam`` config: each runner's flags, and a bad
or missing setting named with its value before any work."""

import os

import pytest

from recsys.config import BeamConfig, ConfigError, load_config
from recsys.pipeline.beam_args import DIRECT_RUNNER_DEPENDENCIES, beam_pipeline_args


def test_default_is_the_direct_runner_multi_processing_on_every_cpu():
    # The flags the local runner passed before the runner became configurable, unchanged.
    assert beam_pipeline_args(BeamConfig()) == ["--direct_running_mode=multi_processing",
                                                f"--direct_num_workers={os.cpu_count()}"]


def test_earlier_flat_keys_still_set_the_direct_runner():
    cfg = load_config(None, ["pipeline.beam_workers=3", "pipeline.beam_running_mode=in_memory"])
    assert beam_pipeline_args(cfg.pipeline.beam) == ["--direct_running_mode=in_memory",
                                                     "--direct_num_workers=3"]


@pytest.mark.parametrize("rows, expected", [
    (150_000, ["--direct_running_mode=in_memory", "--direct_num_workers=1"]),  # the bound itself
    (150_001, ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]),
    (None, ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]),  # size unknown
])
def test_auto_runs_small_data_in_one_process(rows, expected):
    cfg = load_config(None, ["pipeline.beam.direct_running_mode=auto", "pipeline.beam.direct_num_workers=2"])
    assert cfg.pipeline.beam.in_memory_max_rows == 150_000
    assert beam_pipeline_args(cfg.pipeline.beam, rows)[-2:] == expected


def test_an_explicit_mode_ignores_the_row_count():
    cfg = load_config(None, ["pipeline.beam.direct_num_workers=2"])
    assert beam_pipeline_args(cfg.pipeline.beam, 10)[-2:] == ["--direct_running_mode=multi_processing",
                                                              "--direct_num_workers=2"]


def test_an_unknown_mode_is_refused_naming_the_choices():
    with pytest.raises(ConfigError, match=r"pipeline.beam.direct_running_mode.*'in_mem'"):
        load_config(None, ["pipeline.beam.direct_running_mode=in_mem"])


def test_the_local_runner_counts_the_prepared_rows(tmp_path):
    from recsys.pipeline.local_runner import prepared_rows

    (tmp_path / "manifest.json").write_text('{"counts": {"train": 90, "eval": 30}}')
    assert prepared_rows(str(tmp_path)) == 120
    assert prepared_rows(str(tmp_path / "none")) is None



@pytest.mark.parametrize("overrides, expected", [
    (["runner=DataflowRunner", "project=p1", "region=europe-west1", "temp_location=gs://b/tmp"],
     ["--runner=DataflowRunner", "--project=p1", "--region=europe-west1", "--temp_location=gs://b/tmp"]),
    (["runner=FlinkRunner", "flink_master=flink-jm:8081", "environment_type=EXTERNAL",
      "environment_config=localhost:50000"],
     ["--runner=FlinkRunner", "--flink_master=flink-jm:8081", "--environment_type=EXTERNAL",
      "--environment_config=localhost:50000"]),
    (["runner=FlinkRunner"], ["--runner=FlinkRunner"]),  # Beam starts an embedded Flink
    (["runner=SparkRunner", "spark_master_url=spark://m:7077", "environment_type=DOCKER"],
     ["--runner=SparkRunner", "--spark_master_url=spark://m:7077", "--environment_type=DOCKER"]),
    (["runner=DaskRunner", "dask_client_address=127.0.0.1:8786"],
     ["--runner=apache_beam.runners.dask.dask_runner.DaskRunner",
      "--dask_client_address=127.0.0.1:8786"]),
    (["runner=SparkRunner", "extra_args=--job_name=recsys,--max_num_workers=4"],
     ["--runner=SparkRunner", "--job_name=recsys", "--max_num_workers=4"]),
])
def test_runner_flags_from_the_config(overrides, expected):
    cfg = load_config(None, [f"pipeline.beam.{o}" for o in overrides])
    assert beam_pipeline_args(cfg.pipeline.beam) == expected


@pytest.mark.parametrize("beam, message", [
    (BeamConfig(runner="DataflowRunner", temp_location="gs://b/t"),
     r"pipeline.beam.project: ''; expected a value for runner 'DataflowRunner'"),
    (BeamConfig(runner="DataflowRunner", project="p", region="r", temp_location="/tmp/x"),
     r"pipeline.beam.temp_location: '/tmp/x'; expected a gs:// path"),
    (BeamConfig(runner="FlinkRunner", flink_master="flink-jm"),
     r"pipeline.beam.flink_master: 'flink-jm'; expected host:port"),
    (BeamConfig(runner="SparkRunner", spark_master_url="m:7077"),
     r"pipeline.beam.spark_master_url: 'm:7077'; expected spark://host:port"),
    (BeamConfig(environment_type="DOCKER"),
     r"pipeline.beam.environment_type: 'DOCKER'; applies to the portable runners FlinkRunner, "
     r"SparkRunner, not 'DirectRunner'"),
    (BeamConfig(runner="FlinkRunner", environment_type="EXTERNAL"),
     r"pipeline.beam.environment_config: ''; expected host:port of an SDK worker pool"),
    (BeamConfig(extra_args=("job_name=x",)), r"pipeline.beam.extra_args: 'job_name=x'; expected --flag"),
])
def test_bad_settings_name_the_field_and_value(beam, message):
    with pytest.raises(ConfigError, match=message):
        beam_pipeline_args(beam)


def test_every_missing_dataflow_setting_in_one_error():
    with pytest.raises(ConfigError) as e:
        beam_pipeline_args(BeamConfig(runner="DataflowRunner"))
    assert [p.split(":")[0] for p in e.value.problems] == [
        "config pipeline.beam.project", "config pipeline.beam.region",
        "config pipeline.beam.temp_location"]


def test_unknown_runner_is_refused_by_the_config():
    with pytest.raises(ConfigError, match=r"pipeline.beam.runner: 'SamzaRunner'; expected one of"):
        load_config(None, ["pipeline.beam.runner=SamzaRunner"])


@pytest.mark.parametrize("runner", ["DataflowRunner", "FlinkRunner", "SparkRunner", "DaskRunner"])
def test_beam_knows_each_runner_by_the_flag_given(runner):
    """Beam builds the runner the flag names (``--runner=DaskRunner`` alone is refused by Beam)."""
    from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
    from apache_beam.runners.runner import create_runner

    if runner == "DaskRunner":
        pytest.importorskip("distributed", reason="the optional 'scale' extra")
    cfg = load_config(None, [f"pipeline.beam.runner={runner}", "pipeline.beam.project=p",
                             "pipeline.beam.region=r", "pipeline.beam.temp_location=gs://b/t"])
    flag = PipelineOptions(beam_pipeline_args(cfg.pipeline.beam)).view_as(StandardOptions).runner
    assert type(create_runner(flag)).__name__ == runner


def _local_direct_args(*overrides):
    cfg = load_config(None, ["pipeline.beam.direct_num_workers=2", *overrides])
    return beam_pipeline_args(cfg.pipeline.beam, 1_000, local=True)


def test_a_local_direct_run_names_an_empty_requirements_file_and_skips_its_download():
    args = _local_direct_args()
    assert args[-2:] == ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]
    assert list(DIRECT_RUNNER_DEPENDENCIES) == args[:2]
    path = args[0].split("=", 1)[1]
    with open(path) as fh:  # installs nothing: comments only
        assert all(line.startswith("#") or not line.strip() for line in fh)
    # Compiled for another orchestrator, the path would be this machine's: not there.
    cfg = load_config(None, ["pipeline.beam.direct_num_workers=2"])
    assert not set(DIRECT_RUNNER_DEPENDENCIES) & set(beam_pipeline_args(cfg.pipeline.beam, 1_000))
    assert not set(DIRECT_RUNNER_DEPENDENCIES) & set(beam_pipeline_args(
        load_config(None, ["pipeline.beam.runner=FlinkRunner"]).pipeline.beam, 1_000, local=True))


def test_with_those_flags_tfx_builds_no_sdist_and_beam_runs_no_pip(monkeypatch):
    from apache_beam.options.pipeline_options import PipelineOptions
    from apache_beam.runners.portability.stager import Stager
    from apache_beam.transforms import environments
    from tfx.utils import dependency_utils

    def refuse(*args, **kwargs):
        raise AssertionError("called")

    monkeypatch.setattr(dependency_utils, "build_ephemeral_package", refuse)
    monkeypatch.setattr(Stager, "_populate_requirements_cache", staticmethod(refuse))
    args = _local_direct_args()
    assert dependency_utils.make_beam_dependency_flags(args) == args  # TFX adds no --extra_package
    environments.python_sdk_dependencies(PipelineOptions(args))  # Beam's stager downloads nothing
    # Without them TFX would build its sdist, which is what the flags avoid.
    with pytest.raises(AssertionError, match="called"):
        dependency_utils.make_beam_dependency_flags(args[2:])


def test_a_users_own_requirements_file_wins():
    args = _local_direct_args("pipeline.beam.extra_args=--requirements_file=/srv/req.txt")
    assert args[-1] == "--requirements_file=/srv/req.txt"  # Beam keeps the last of a repeated flag
