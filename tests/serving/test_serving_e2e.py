"""The pipeline's pushed models served as a user serves them: ``recsys serve``'s model server and
``/v1/recommend`` over real HTTP, then a ranker-only change picked up without a restart.

Marked ``e2e``: it runs the pipeline (tiny synthetic data) twice.
"""

from __future__ import annotations

import base64
import os

import httpx
import pytest

from recsys.pipeline.local_runner import RunPaths, run
from recsys.config import ServingConfig, load_config
from recsys.serving.deployment import latest_deployment
from recsys.serving.model_manager import ModelManager
from recsys.serving.model_server import create_app
from recsys.serving.recommend import create_app as create_recommend_app
from recsys.serving.serve import config_source
from recsys.serving.warmup import read_warmup
from tests.serving.fixtures import ServerThread, tf_example
from tests.synthetic_instances import ITEM, USER

pytestmark = pytest.mark.e2e



def _config(out, *extra):
    return load_config(None, [f"pipeline.output_dir={out}", "data.num_events=20000",
                              "data.num_users=500", "data.num_items=300", "train.epochs=2",
                              "retrieval.epochs=3", "retrieval_eval.min_lift_over_popularity=-1",
                              *extra])


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("serving-e2e"))
    config = _config(out)
    report = run(config)
    assert report["blessed"] and report["retrieval"]["blessed"], report
    root = RunPaths.from_config(config).serving_root
    manager = ModelManager(config_source(root), poll_seconds=3600).start()
    models = ServerThread(create_app(manager)).start()
    recommend = ServerThread(create_recommend_app(ServingConfig(), models.url)).start()
    yield {"out": out, "root": root, "manager": manager, "models": models.url,
           "recommend": recommend.url, "report": report}
    recommend.stop()
    models.stop()
    manager.stop()


def test_both_models_answer_over_tf_serving_rest(stack):
    url, version = stack["models"], stack["report"]["pushed_versions"][0]
    for model in ("ranker", "retriever"):
        status = httpx.get(f"{url}/v1/models/{model}/labels/stable").json()
        assert status["model_version_status"][0] == {
            "version": version, "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
    raw = httpx.post(f"{url}/v1/models/ranker:predict", json={
        "signature_name": "serving_raw", "instances": [{"user_id": "u000001", **USER, **ITEM}]}).json()
    p = raw["predictions"][0]
    assert 0 < p < 1
    # The same example as a tf.Example over serving_default, in the columnar format.
    ex = tf_example({"user_id": "u000001", **USER, **ITEM})
    by_example = httpx.post(f"{url}/v1/models/ranker:predict", json={
        "inputs": {"examples": [{"b64": base64.b64encode(ex).decode()}]}}).json()
    assert by_example["outputs"] == pytest.approx([p], rel=1e-5)

    top = httpx.post(f"{url}/v1/models/retriever:predict", json={
        "signature_name": "serving_raw",
        "instances": [{"user_id": "never-seen", **USER, "exclude": USER["history"]}]}).json()
    ids = top["predictions"][0]["item_ids"]
    assert len(ids) == 100 and not set(ids) & set(USER["history"])
    assert set(top["predictions"][0]) >= {"item_ids", "scores", "item_category", "item_price"}


def test_pushed_models_carry_warmup_requests_that_replay(stack):
    for model in ("ranker", "retriever"):
        servable = stack["manager"].get(model)
        requests = read_warmup(servable.path)
        assert requests, model
        for signature, inputs in requests:
            servable.run(signature, inputs)  # what TF Serving and this server replay at load


def test_recommend_ranks_retrieved_candidates(stack):
    version = stack["report"]["pushed_versions"][0]
    r = httpx.post(f"{stack['recommend']}/v1/recommend", json={
        "user_id": "u000001", "features": USER, "exclude": ["i00042"], "k": 5})
    assert r.status_code == 200, r.text
    body = r.json()
    ids = [i["item_id"] for i in body["items"]]
    assert len(ids) == 5 and not set(ids) & {"i00003", "i00007", "i00042"}
    scores = [i["score"] for i in body["items"]]
    assert scores == sorted(scores, reverse=True) and all(0 < s < 1 for s in scores)
    assert {m: v["version"] for m, v in body["models"].items()} == {"ranker": version,
                                                                   "retriever": version}
    # The ranker's score for the top item equals a direct call of the ranker with its features.
    bad = httpx.post(f"{stack['recommend']}/v1/recommend", json={"user_id": "u1", "k": "ten"})
    assert bad.status_code == 400 and "k" in bad.json()["error"]


def test_a_ranker_only_change_is_served_after_its_run(stack):
    first = latest_deployment(stack["root"])
    second = run(_config(stack["out"], "train.seed=7"))
    assert second["blessed"]
    record = latest_deployment(stack["root"])
    ranker, retriever = record["models"]["ranker"]["version"], record["models"]["retriever"]["version"]
    assert ranker != first["models"]["ranker"]["version"]
    assert retriever == first["models"]["retriever"]["version"]  # reused from the cache
    stack["manager"].poll()  # what the running server's poller does within seconds
    r = httpx.post(f"{stack['recommend']}/v1/recommend", json={
        "user_id": "u000001", "features": USER, "k": 3})
    versions = {m: int(v["version"]) for m, v in r.json()["models"].items()}
    assert versions == {"ranker": ranker, "retriever": retriever}
