"""The deployment record names the versions served together; serving/stack.py turns it into a TF
Serving models.config; the DeploymentRecorder writes it from the pushers' artifacts; the compose
file runs the TF Serving release matching the installed TensorFlow on that config."""

import json
import os

import pytest

from recsys.serving.push import push_version
from recsys.serving.deployment import DeploymentError, deployments, latest_deployment, record_deployment
from recsys.serving.stack import CONFIG_FILE, config_for, main, models_config

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _push(root, name, version, weights=None):
    model = os.path.join(str(root), "_src", name, str(version))
    os.makedirs(os.path.join(model, "variables"))
    with open(os.path.join(model, "saved_model.pb"), "wb") as fh:
        fh.write(b"graph")
    with open(os.path.join(model, "variables", "variables.index"), "wb") as fh:
        fh.write(weights or f"{name}{version}".encode())
    base = os.path.join(str(root), name)
    push_version(model, base, str(version), run_id=None)
    return int(version), base


def _parse(text):
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    return text_format.Parse(text, model_server_config_pb2.ModelServerConfig())


@pytest.fixture
def root(tmp_path):
    """Run 100 pushed both models; run 200 changed only the ranker (the retriever's push was
    cached: it still names version 100)."""
    root = tmp_path / "serving"
    record_deployment(str(root), "run-100", {"ranker": _push(root, "ranker", 100),
                                             "retriever": _push(root, "retriever", 100)},
                      record_id="100", now=1000)
    record_deployment(str(root), "run-200", {"ranker": _push(root, "ranker", 200),
                                             "retriever": (100, str(root / "retriever"))},
                      record_id="200", now=2000)
    return root


def test_records_are_listed_oldest_first_and_name_the_reused_retriever(root):
    found = deployments(str(root))
    assert [d["id"] for d in found] == [100, 200]
    latest = latest_deployment(str(root))
    assert latest["run_id"] == "run-200" and latest["created"] == 2000
    assert latest["models"] == {
        "ranker": {"version": 200, "base_path": str(root / "ranker")},
        "retriever": {"version": 100, "base_path": str(root / "retriever")}}
    with open(root / "deployments" / "200.json") as fh:  # the file is the record (minus "id")
        assert json.load(fh) == {k: v for k, v in latest.items() if k != "id"}
    assert not [n for n in os.listdir(root / "deployments") if not n.endswith(".json")]


def test_a_record_naming_an_incomplete_version_is_refused_and_skipped(root):
    os.makedirs(root / "ranker" / "300")  # a numbered directory without a verified push
    with pytest.raises(DeploymentError, match="ranker: version 300 .* not a complete push"):
        record_deployment(str(root), "run-300", {"ranker": (300, str(root / "ranker"))})
    with pytest.raises(DeploymentError, match="base_path"):
        record_deployment(str(root), "r", {"ranker": (200, str(root / "retriever"))})
    with open(root / "ranker" / "200" / "saved_model.pb", "ab") as fh:
        fh.write(b"tampered")
    assert [d["id"] for d in deployments(str(root))] == [100]  # 200 names the tampered ranker
    (root / "deployments" / "150.json").write_text("{not json")
    (root / "deployments" / "300.json.tmp-1").write_text("{}")  # a record being written
    assert latest_deployment(str(root))["id"] == 100
    assert latest_deployment(str(root / "nowhere")) is None


def test_config_pins_each_model_of_the_latest_deployment(root):
    config = _parse(config_for(str(root)))
    by_name = {c.name: c for c in config.model_config_list.config}
    assert set(by_name) == {"ranker", "retriever"}
    assert list(by_name["ranker"].model_version_policy.specific.versions) == [200]
    assert dict(by_name["ranker"].version_labels) == {"stable": 200}
    assert list(by_name["retriever"].model_version_policy.specific.versions) == [100]
    assert dict(by_name["retriever"].version_labels) == {"stable": 100}
    assert by_name["retriever"].base_path == "/models/retriever"
    assert by_name["ranker"].model_platform == "tensorflow"


def test_canary_serves_both_versions_newer_labelled_canary(root):
    old, new = deployments(str(root))
    text = models_config(old, "/srv/root/", canary=new)
    assert text == models_config(new, "/srv/root", canary=old)  # order does not matter
    assert text == models_config(new, "/srv/root", canary_over=old)
    by_name = {c.name: c for c in _parse(text).model_config_list.config}
    assert list(by_name["ranker"].model_version_policy.specific.versions) == [100, 200]
    assert dict(by_name["ranker"].version_labels) == {"stable": 100, "canary": 200}
    # The retriever did not change: one version carries both labels.
    assert list(by_name["retriever"].model_version_policy.specific.versions) == [100]
    assert dict(by_name["retriever"].version_labels) == {"stable": 100, "canary": 100}
    assert by_name["ranker"].base_path == "/srv/root/ranker"
    assert config_for(str(root), "/srv/root", canary=True) == text
    with pytest.raises(ValueError, match="same models"):
        models_config(old, canary={"models": {"ranker": new["models"]["ranker"]}})


def test_cli_prints_or_writes_the_config_and_explains_a_missing_record(root, tmp_path, capsys):
    assert main([str(root), "--base-path", str(root)]) == 0
    printed = capsys.readouterr().out
    assert f'base_path: "{root}/ranker"' in printed and "versions: 200" in printed
    assert main([str(root), "--canary", "--write"]) == 0
    with open(root / CONFIG_FILE) as fh:
        assert fh.read() == config_for(str(root), canary=True)
    assert main([str(tmp_path / "empty")]) == 1
    assert "no" in capsys.readouterr().err
    os.remove(root / "deployments" / "100.json")
    assert main([str(root), "--canary"]) == 1
    assert "2 needed for --canary" in capsys.readouterr().err


def _pushed_artifact(version=None, base=None):
    from tfx.types import standard_artifacts

    artifact = standard_artifacts.PushedModel()
    artifact.set_int_custom_property("pushed", 0 if version is None else 1)
    if version is not None:
        artifact.set_string_custom_property("pushed_version", str(version))
        artifact.set_string_custom_property("pushed_destination", os.path.join(base, str(version)))
    return artifact


def test_recorder_records_a_ranker_only_change_with_the_reused_retriever(root):
    from recsys.components.deployment_recorder import record_pushes
    from recsys.serving.push import run_version

    run_id = "2026-11-30T21:00:05"
    version = int(run_version(run_id))
    _, ranker_base = _push(root, "ranker", version)
    record = record_pushes(str(root), run_id, {
        "ranker": _pushed_artifact(version, ranker_base),
        "retriever": _pushed_artifact(100, str(root / "retriever"))})  # the cached push
    assert record["models"]["ranker"]["version"] == version
    assert record["models"]["retriever"]["version"] == 100
    latest = latest_deployment(str(root))
    assert latest["id"] == version and latest["run_id"] == run_id


def test_recorder_records_nothing_when_a_model_was_not_pushed(root):
    from recsys.components.deployment_recorder import record_pushes

    before = os.listdir(root / "deployments")
    assert record_pushes(str(root), "2026-12-01T00:00:00", {
        "ranker": _pushed_artifact(200, str(root / "ranker")),
        "retriever": _pushed_artifact()}) is None  # the retriever failed its gate
    assert os.listdir(root / "deployments") == before
    # Retrieval disabled: the ranker alone is a deployment.
    record = record_pushes(str(root), "2026-12-02T00:00:00",
                           {"ranker": _pushed_artifact(200, str(root / "ranker")),
                            "retriever": None})
    assert set(record["models"]) == {"ranker"}


@pytest.mark.parametrize("retrieval", [True, False])
def test_recorder_runs_after_both_pushers_in_every_run(tmp_path, retrieval):
    from recsys.pipeline.local_runner import RunPaths, build
    from recsys.pipeline.pipeline import compile_pipeline
    from recsys.config import load_config

    config = load_config(None, [f"pipeline.output_dir={tmp_path}", f"retrieval.enabled={retrieval}"])
    nodes = {n.pipeline_node.node_info.id: n.pipeline_node
             for n in compile_pipeline(build(config, str(tmp_path / "data"))).nodes}
    recorder = nodes["DeploymentRecorder"]
    pushers = ["Pusher", "RetrievalPusher"] if retrieval else ["Pusher"]
    assert sorted(recorder.upstream_nodes) == pushers
    assert sorted(recorder.inputs.inputs) == (["ranker", "retriever"] if retrieval else ["ranker"])
    assert recorder.parameters.parameters["serving_root"].field_value.string_value == \
        RunPaths.from_config(config).serving_root
    # Never cached (a run going back to earlier models must record them again); the rest is.
    assert not recorder.execution_options.caching_options.enable_cache
    assert nodes["Pusher"].execution_options.caching_options.enable_cache


def _compose():
    import yaml

    with open(os.path.join(REPO, "serving", "docker-compose.yml")) as fh:
        return yaml.safe_load(fh)


def test_compose_runs_the_tf_serving_release_of_the_installed_tensorflow():
    import tensorflow as tf

    image = _compose()["services"]["tfserving"]["image"]
    repo, tag = image.split(":")
    assert repo == "tensorflow/serving"
    assert tag.split(".")[:2] == tf.__version__.split(".")[:2], (image, tf.__version__)


def test_compose_reads_the_config_serving_stack_writes():
    service = _compose()["services"]["tfserving"]
    # One mount: the serving root at /models (base_path "/models/<name>" in the generated config).
    assert [v.rsplit(":", 2)[1] for v in service["volumes"]] == ["/models"]
    assert service["volumes"][0].startswith("${RECSYS_SERVING_DIR:-../runs/serving}:")
    flags = dict(a.lstrip("-").split("=", 1) for a in service["command"])
    assert flags["model_config_file"] == f"/models/{CONFIG_FILE}"  # <serving root>/models.config
    assert flags["allow_version_labels_for_unavailable_models"] == "true"
    recommend = _compose()["services"]["recommend"]
    command = recommend["command"]
    assert command[command.index("--model-server-url") + 1] == "http://tfserving:8501"
    assert command[command.index("--host") + 1] == "0.0.0.0"  # reachable from outside its container
    assert os.path.exists(os.path.join(REPO, recommend["build"]["dockerfile"]))


def test_shipped_example_config_serves_both_models():
    with open(os.path.join(REPO, "serving", "models.config")) as fh:
        config = _parse(fh.read())
    assert {c.name for c in config.model_config_list.config} == {"ranker", "retriever"}
