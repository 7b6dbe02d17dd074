"""With confidence intervals on, the Evaluator alone runs its DirectRunner in one process: with
several worker processes TFMA 0.47 loses example-level resamples (pipeline/pipeline.py says how
it was found). Checked on the compiled PipelineSpec, where each executor's Beam flags are listed."""

import pytest

from recsys.config import load_config
from recsys.pipeline.kubeflow_runner import compile_pipeline_spec
from recsys.pipeline.pipeline import IN_ONE_PROCESS


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
    assert args["Evaluator"][-2:] == IN_ONE_PROCESS
    assert "--direct_running_mode=multi_processing" in args["Evaluator"]
    for node in ("Transform", "StatisticsGen"):
        assert args[node][-2:] == ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]


def test_without_intervals_the_evaluator_keeps_the_pipelines_workers(tmp_path):
    args = _beam_args(tmp_path)
    assert args["Evaluator"][-2:] == ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]
    assert not set(IN_ONE_PROCESS) & set(args["Evaluator"])
