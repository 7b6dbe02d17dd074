"""Property-based fuzzing of the model server: no generated request gets a 5xx, and the server
still answers correctly afterwards. Bodies are random JSON (random types in every field, random
nesting), random bytes, and near-valid requests with one field perturbed; paths are random names,
versions and labels, percent-encoded traversal attempts included.

Counts: each test draws ``FUZZ_EXAMPLES`` (default 1,000) cases; the run's totals are recorded by
``benchmarks/reliability.py``.
"""

from __future__ import annotations

import json
import os

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recsys.serving.model_manager import ModelManager, ModelSpec
from recsys.serving.model_server import create_app
from tests.serving.fixtures import ServerThread, example, export_classify_regress_model, push, sigmoid

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "1000"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                suppress_health_check=list(HealthCheck))

json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                      st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20),
                      st.just({"b64": "YWJj"}), st.just({"b64": "%%%"}))
json_value = st.recursive(json_leaf, lambda inner: st.one_of(
    st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=10), inner, max_size=5)),
    max_leaves=30)
input_names = st.sampled_from(["count", "pair", "word", "examples", "data", "x", ""])
near_valid = st.fixed_dictionaries({
    "signature_name": st.sampled_from(["multi", "serving_default", "echo", "nope", "", None]),
}, optional={
    "instances": st.lists(st.dictionaries(input_names, json_value, max_size=4) | json_value, max_size=4),
    "inputs": st.dictionaries(input_names, json_value, max_size=4) | json_value,
})


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    base = str(tmp_path_factory.mktemp("fuzz"))
    push(os.path.join(base, "toy"), 1)
    push(os.path.join(base, "half"), 1, exporter=export_classify_regress_model)
    manager = ModelManager([ModelSpec("toy", os.path.join(base, "toy"), labels=(("stable", 1),)),
                            ModelSpec("half", os.path.join(base, "half"))], poll_seconds=3600).start()
    server = ServerThread(create_app(manager, max_batch=64, max_body_bytes=64_000)).start()
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client
    server.stop()
    manager.stop()


def _no_5xx(response: httpx.Response) -> None:
    assert response.status_code < 500, (response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert (response.status_code == 200) == ("error" not in body)


def _still_correct(client: httpx.Client) -> None:
    import base64

    r = client.post("/v1/models/toy:predict", json={
        "instances": [{"b64": base64.b64encode(example(0.5)).decode()}]})
    assert r.status_code == 200 and r.json()["predictions"][0] == pytest.approx(sigmoid(0.5), rel=1e-5)


@FUZZ
@given(body=st.one_of(json_value, near_valid))
def test_predict_bodies(url, body):
    for path in ("/v1/models/toy:predict", "/v1/models/toy/versions/1:predict"):
        _no_5xx(url.post(path, content=json.dumps(body)))


@FUZZ
@given(raw=st.binary(max_size=200))
def test_raw_bytes(url, raw):
    _no_5xx(url.post("/v1/models/toy:predict", content=raw))


@FUZZ
@given(body=st.one_of(json_value, st.fixed_dictionaries(
    {"signature_name": st.sampled_from(["classify_x", "regress_x", "serving_default", "x"])},
    optional={"examples": json_value, "context": json_value})))
def test_classify_regress_bodies(url, body):
    for method in ("classify", "regress"):
        _no_5xx(url.post(f"/v1/models/half:{method}", content=json.dumps(body)))


segment = st.one_of(st.text(max_size=12), st.sampled_from(
    ["toy", "half", "..", "%2e%2e", "..%2F..%2Fetc", "%00", "versions", "labels", "metadata"]))


@FUZZ
@given(name=segment, kind=st.sampled_from(["", "/versions/", "/labels/"]),
       ref=st.one_of(st.integers(-5, 2**70).map(str), segment),
       tail=st.sampled_from(["", "/metadata", ":predict", ":classify", ":regress", ":x"]))
def test_paths(url, name, kind, ref, tail):
    from urllib.parse import quote

    path = "/v1/models/" + quote(name, safe="%.") + (kind + quote(ref, safe="%.") if kind else "") + tail
    method = "POST" if tail.startswith(":") else "GET"
    _no_5xx(url.request(method, path, content=b'{"instances": []}'))


def test_server_answers_correctly_after_fuzzing(url):
    _still_correct(url)
