"""The Evaluator's own DirectRunner flags (pipeline/beam_args.py ``evaluator_args``): with
confidence intervals on, one process (with several worker processes TFMA 0.47 loses example-level
resamples); under ``auto``, every worker even where the data stages run in memory. Checked on the
compiled PipelineSpec, where each executor's Beam flags are listed, and on the flags themselves."""

import pytest

from recsys.config import load_config
from recsys.pipeline.kubeflow_runner import compile_pipeline_spec
from recsys.pipeline.beam_args import IN_ONE_PROCESS, beam_pipeline_args, evaluator_args, example_gen_args


def _beam_args(tmp_path, *overrides):
    config = load_config(None, [f"pipeline.output_dir={tmp_path}/runs", "pipeline.beam.direct_num_workers=2",
                                *overrides])
    job = compile_pipeline_spec(config, image="registry.example/recsys:1", data_root=str(tmp_path / "data"),
                                output_path=str(tmp_path / "pipeline.json"))
    executors = job["pipelineSpec"]["deploymentSpec"]["executors"]
    return {node: executors[f"{node}_executor"]["container"]["args"]
            for node in ("Evaluator", "Transform", "StatisticsGen")}


@pytest.mark.parametrize("method", ["jackknife", "bootstrap"])
def test_with_intervals_the_evaluator_runs_in_one_process_and_the_rest_do_not(tmp_path, method):
    args = _beam_args(tmp_path, f"eval.confidence_intervals={method}")
    # Beam keeps the last of a repeated flag: the Evaluator's own come after the pipeline's.
    assert args["Evaluator"][-2:] == list(IN_ONE_PROCESS)
    assert "--direct_running_mode=multi_processing" in args["Evaluator"]
    for node in ("Transform", "StatisticsGen"):
        assert args[node][-2:] == ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]


def test_without_intervals_the_evaluator_keeps_the_pipelines_workers(tmp_path):
    args = _beam_args(tmp_path)
    assert args["Evaluator"][-2:] == ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]
    assert not set(IN_ONE_PROCESS) & set(args["Evaluator"])


def test_auto_keeps_the_evaluators_workers_where_the_data_stages_run_in_memory():
    beam = load_config(None, ["pipeline.beam.direct_running_mode=auto",
                              "pipeline.beam.direct_num_workers=2"]).pipeline.beam
    # Small data: the pipeline's flags put every Beam stage in one process ...
    assert beam_pipeline_args(beam, 1_000)[-2:] == list(IN_ONE_PROCESS)
    # ... and the Evaluator's own flags, which come after them, give it its workers back.
    assert evaluator_args(beam, intervals=False) == ["--direct_running_mode=multi_processing",
                                                     "--direct_num_workers=2"]
    assert evaluator_args(beam, intervals=True) == list(IN_ONE_PROCESS)


@pytest.mark.parametrize("overrides", [[], ["pipeline.beam.direct_running_mode=in_memory"],
                                       ["pipeline.beam.runner=FlinkRunner"]])
def test_an_explicit_mode_or_another_runner_leaves_the_evaluator_the_pipelines_flags(overrides):
    assert evaluator_args(load_config(None, overrides).pipeline.beam, intervals=False) == []


def test_auto_on_small_data_runs_the_data_stages_in_memory_and_the_evaluator_on_its_workers(pipeline_nodes):
    nodes = pipeline_nodes(["pipeline.beam.direct_num_workers=2", "pipeline.beam.direct_running_mode=auto"])
    flags = {n: nodes[n].executor_spec.beam_pipeline_args
             for n in ("ImportExampleGen", "Transform", "StatisticsGen", "Evaluator")}
    assert flags["Transform"][-2:] == flags["StatisticsGen"][-2:] == list(IN_ONE_PROCESS)
    workers = ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]
    # ExampleGen's workers write a file each, which the Evaluator's workers then split.
    assert flags["Evaluator"][-2:] == flags["ImportExampleGen"][-2:] == workers


@pytest.mark.parametrize("overrides", [[], ["pipeline.beam.direct_running_mode=in_memory"],
                                       ["pipeline.beam.runner=FlinkRunner"]])
def test_only_auto_gives_example_gen_its_own_flags(overrides):
    assert example_gen_args(load_config(None, overrides).pipeline.beam) == []
    auto = load_config(None, [*overrides, "pipeline.beam.direct_running_mode=auto",
                              "pipeline.beam.direct_num_workers=3"]).pipeline.beam
    assert example_gen_args(auto) == ([] if "pipeline.beam.runner=FlinkRunner" in overrides else
                                      ["--direct_running_mode=multi_processing", "--direct_num_workers=3"])
