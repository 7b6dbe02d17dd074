"""The same ``create_pipeline`` compiles with TFX's KubeflowV2DagRunner to a PipelineSpec JSON that
names every component, runs each in the given image, and reaches the custom components' code."""

import json

from recsys.config import load_config
from recsys.pipeline.kubeflow_runner import compile_pipeline_spec, main

IMAGE = "registry.example/recsys:1"
RUNNER = ["python", "-m", "tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor"]
# Node id -> the executor class its container runs: TFX's own, then this project's custom ones
# (a function component's generated executor, a class component, a custom executor class).
EXECUTORS = {
    "ImportExampleGen": "recsys.components.example_gen.StreamingImportExecutor",
    "StatisticsGen": "tfx.components.statistics_gen.executor.Executor",
    "ImportSchemaGen": "tfx.components.schema_gen.import_schema_gen.executor.Executor",
    "ExampleValidator": "tfx.components.example_validator.executor.Executor",
    "Transform": "tfx.components.transform.executor.Executor",
    "Trainer": "tfx.components.trainer.executor.GenericExecutor",
    "RetrievalTrainer": "tfx.components.trainer.executor.GenericExecutor",
    "Evaluator": "tfx.components.evaluator.executor.Executor",
    "AnomaliesGate": "recsys.components.anomalies_gate.AnomaliesGate_Executor",
    "RetrievalEvaluator": "recsys.components.retrieval_evaluator.RetrievalEvaluator_Executor",
    "Pusher": "recsys.components.pusher.IdempotentPusherExecutor",
    "RetrievalPusher": "recsys.components.pusher.IdempotentPusherExecutor",
    "DeploymentRecorder": "recsys.components.deployment_recorder.Executor",
}


def test_compiles_every_component_with_its_image_and_command(tmp_path):
    config = load_config(None, [f"pipeline.output_dir={tmp_path}/runs",
                                "pipeline.beam.direct_num_workers=3"])
    out = tmp_path / "pipeline.json"
    job = compile_pipeline_spec(config, image=IMAGE, data_root=str(tmp_path / "data"),
                                output_path=str(out))
    assert json.loads(out.read_text()) == job
    spec = job["pipelineSpec"]
    tasks = spec["root"]["dag"]["tasks"]
    assert set(EXECUTORS) <= set(tasks)
    assert {t for t in tasks if "resolver" in t} == {  # the Evaluator's baseline
        "latest_blessed_model_resolver-model-resolver",
        "latest_blessed_model_resolver-model-blessing-resolver"}
    executors = spec["deploymentSpec"]["executors"]
    for node, executor_class in EXECUTORS.items():
        container = executors[f"{node}_executor"]["container"]
        assert container["image"] == IMAGE, node
        assert container["command"] == RUNNER, node
        args = container["args"]
        assert args[args.index("--executor_class_path") + 1] == executor_class, node
        # The Beam arguments from pipeline.beam reach every executor.
        assert args[-2:] == ["--direct_running_mode=multi_processing", "--direct_num_workers=3"]
    # Never cached, as in the local runner: the record must name this run's models.
    assert tasks["DeploymentRecorder"]["cachingOptions"]["enableCache"] is False
    assert tasks["Trainer"]["cachingOptions"]["enableCache"] is True
    # The Trainers' custom_config carries the typed config, [distribute] included.
    trainer = json.dumps(tasks["Trainer"])
    assert "distribute" in trainer and "multi_worker" not in trainer


def test_command_line_writes_the_file(tmp_path, capsys):
    out = tmp_path / "p.json"
    main(["--image", IMAGE, "--data-root", str(tmp_path / "data"), "--output", str(out),
          "--set", f"pipeline.output_dir={tmp_path}/runs", "--set", "retrieval.enabled=false"])
    tasks = json.loads(out.read_text())["pipelineSpec"]["root"]["dag"]["tasks"]
    assert "RetrievalTrainer" not in tasks and "Trainer" in tasks
    assert capsys.readouterr().out.startswith(f"{out}: {len(tasks)} tasks")
