"""The model server against TF Serving's REST API contract (``api_rest.md``).

By default these run against ``serving/model_server.py`` on a loopback port. To run the same
tests against a real TF Serving, start it on the models this module writes and point the tests
at it (tests of this server's own additions -- limits, manifests, hot loading -- are skipped):

  TF_SERVING_MODEL_BASE=/tmp/tfs  (a directory the TF Serving container sees at the same path)
  tensorflow_model_server --rest_api_port=8501 --model_config_file=/tmp/tfs/models.config \
      --model_config_file_poll_wait_seconds=1 --file_system_poll_wait_seconds=1
  TF_SERVING_URL=http://localhost:8501 pytest tests/serving/test_model_server.py
"""

from __future__ import annotations

import base64
import gc
import json
import os
import shutil
import tempfile

import httpx
import numpy as np
import pytest

from recsys.serving.manifest import MANIFEST
from recsys.serving.model_manager import ModelManager, ModelSpec, parse_model_config, wait_until
from recsys.serving.model_server import create_app
from tests.serving.fixtures import (ServerThread, example, export_classify_regress_model, push,
                                    sigmoid)

REAL = os.environ.get("TF_SERVING_URL")
local_only = pytest.mark.skipif(bool(REAL), reason="this server's own behaviour, not TF Serving's")

CONFIG = """
model_config_list {
  config {
    name: "toy"
    base_path: "%(base)s/toy"
    model_platform: "tensorflow"
    model_version_policy { specific { versions: 1 versions: 2 } }
    version_labels { key: "stable" value: 1 }
    version_labels { key: "canary" value: 2 }
  }
  config { name: "half_plus_two" base_path: "%(base)s/half_plus_two" model_platform: "tensorflow" }
}
"""


@pytest.fixture(scope="module")
def base_dir():
    base = os.environ.get("TF_SERVING_MODEL_BASE") or tempfile.mkdtemp()
    push(os.path.join(base, "toy"), 1, scale=1.0)
    push(os.path.join(base, "toy"), 2, scale=2.0)
    push(os.path.join(base, "toy"), 3, scale=3.0)  # on disk, but not in the specific policy
    push(os.path.join(base, "half_plus_two"), 7, exporter=export_classify_regress_model)
    with open(os.path.join(base, "models.config"), "w") as fh:
        fh.write(CONFIG % {"base": base})
    yield base
    if not os.environ.get("TF_SERVING_MODEL_BASE"):
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def url(base_dir):
    if REAL:
        assert wait_until(lambda: _available(REAL, "toy") and _available(REAL, "half_plus_two"), 60)
        yield REAL.rstrip("/")
        return
    with open(os.path.join(base_dir, "models.config")) as fh:
        specs = parse_model_config(fh.read())
    manager = ModelManager(specs, poll_seconds=3600).start()
    server = ServerThread(create_app(manager, max_batch=50, max_body_bytes=100_000)).start()
    yield server.url
    server.stop()
    manager.stop()


def _available(base, model):
    try:
        return httpx.get(f"{base}/v1/models/{model}").status_code == 200
    except httpx.HTTPError:
        return False


def get(url, path):
    r = httpx.get(url + path)
    assert r.headers["content-type"].startswith("application/json"), r.headers
    return r.status_code, r.json()


def post(url, path, body, raw: bytes | None = None):
    r = httpx.post(url + path, content=raw if raw is not None else json.dumps(body),
                   headers={"content-type": "application/json"})
    assert r.headers["content-type"].startswith("application/json"), (r.status_code, r.text)
    return r.status_code, r.json()


def b64(x: float) -> dict:
    return {"b64": base64.b64encode(example(x)).decode()}


# ---- status and metadata ---------------------------------------------------------------------

def test_status_lists_the_policy_versions_newest_first(url):
    code, body = get(url, "/v1/models/toy")
    assert code == 200
    assert [(s["version"], s["state"]) for s in body["model_version_status"]] == [
        ("2", "AVAILABLE"), ("1", "AVAILABLE")]  # version 3 is on disk but not in the policy
    assert body["model_version_status"][0]["status"] == {"error_code": "OK", "error_message": ""}
    assert get(url, "/v1/models/toy/versions/1")[1]["model_version_status"][0]["version"] == "1"
    assert get(url, "/v1/models/toy/labels/canary")[1]["model_version_status"][0]["version"] == "2"


@pytest.mark.parametrize("path,code", [
    ("/v1/models/nope", 404), ("/v1/models/toy/versions/3", 404), ("/v1/models/toy/versions/9", 404),
    ("/v1/models/toy/labels/nope", 400), ("/v1/models/nope/metadata", 404),
    ("/v1/models/..%2F..%2Fetc", 404), ("/v1/models/toy/versions/1/labels/stable", 400)])
def test_status_errors_use_tf_serving_codes(url, path, code):
    status, body = get(url, path)
    assert status == code and isinstance(body["error"], str) and body["error"]


def test_metadata_has_tf_servings_shape(url):
    code, body = get(url, "/v1/models/toy/labels/stable/metadata")
    assert code == 200
    assert body["model_spec"] == {"name": "toy", "signature_name": "", "version": "1"}
    sigs = body["metadata"]["signature_def"]["signature_def"]
    multi = sigs["multi"]
    assert multi["method_name"] == "tensorflow/serving/predict"
    assert multi["inputs"]["count"]["dtype"] == "DT_INT64"
    assert [d["size"] for d in multi["inputs"]["pair"]["tensor_shape"]["dim"]] == ["-1", "2"]
    assert set(multi["outputs"]) == {"total", "length"}


# ---- predict ---------------------------------------------------------------------------------

def test_predict_row_format_single_input_b64(url):
    code, body = post(url, "/v1/models/toy:predict", {"instances": [b64(0.5), b64(-1.0)]})
    assert code == 200
    np.testing.assert_allclose(body["predictions"], sigmoid([1.0, -2.0]), rtol=1e-5)  # newest: v2
    code, body = post(url, "/v1/models/toy/versions/1:predict",
                      {"signature_name": "serving_default", "instances": [{"examples": b64(0.5)}]})
    np.testing.assert_allclose(body["predictions"], sigmoid([0.5]), rtol=1e-5)
    code, body = post(url, "/v1/models/toy/labels/canary:predict", {"instances": [b64(0.5)]})
    np.testing.assert_allclose(body["predictions"], sigmoid([1.0]), rtol=1e-5)


def test_predict_row_format_named_inputs_and_outputs(url):
    code, body = post(url, "/v1/models/toy/versions/1:predict", {
        "signature_name": "multi",
        "instances": [{"count": 1, "pair": [0.5, 0.25], "word": "abc"},
                      {"count": 2, "pair": [1, 2], "word": "héllo"}]})
    assert code == 200, body
    assert [p["length"] for p in body["predictions"]] == [3, 6]  # bytes, as tf.strings.length
    np.testing.assert_allclose([p["total"] for p in body["predictions"]], [1.75, 5.0])


def test_predict_columnar_format(url):
    code, body = post(url, "/v1/models/toy/versions/1:predict", {
        "signature_name": "multi",
        "inputs": {"count": [1, 2], "pair": [[0.5, 0.25], [1, 2]], "word": ["a", "bb"]}})
    assert code == 200
    assert body["outputs"]["length"] == [1, 2]
    np.testing.assert_allclose(body["outputs"]["total"], [1.75, 5.0])
    code, body = post(url, "/v1/models/toy/versions/1:predict", {"inputs": [b64(0.0)]})
    assert code == 200 and body["outputs"] == [0.5]


def test_string_outputs_are_text_or_b64_by_name(url):
    code, body = post(url, "/v1/models/toy/versions/1:predict",
                      {"signature_name": "echo", "instances": ["abc", {"b64": "/w=="}]})
    assert code == 200
    assert body["predictions"][0] == {"data_bytes": {"b64": "YWJj"}, "upper": "ABC"}
    assert body["predictions"][1]["data_bytes"] == {"b64": "/w=="}


@pytest.mark.parametrize("body,needle", [
    ({}, "Missing 'inputs' or 'instances'"),
    ({"instances": [], "inputs": []}, "only one of"),
    ({"signature_name": "nope", "instances": [b64(1)]}, "nope"),
    ({"signature_name": 7, "instances": [b64(1)]}, "signature_name"),
    ({"signature_name": "multi", "instances": [{"count": 1, "pair": [1, 2]}]}, "word"),
    ({"signature_name": "multi", "instances": [{"count": 1.5, "pair": [1, 2], "word": "a"}]}, "count"),
    ({"signature_name": "multi", "instances": [{"count": "1", "pair": [1, 2], "word": "a"}]}, "count"),
    ({"signature_name": "multi", "instances": [{"count": 1, "pair": [1, 2, 3], "word": "a"}]}, "pair"),
    ({"signature_name": "multi", "instances": [{"count": 1, "pair": [1, 2], "word": 5}]}, "word"),
    ({"signature_name": "multi", "inputs": {"count": [1, 2], "pair": [[1, 2], [3]], "word": ["a", "b"]}},
     "pair"),
    ({"signature_name": "multi", "instances": [{"count": 1, "pair": [1, 2], "word": "a"},
                                               {"count": 1, "pair": [1, 2]}]}, "instance 1"),
    ({"instances": [{"b64": "not base64!"}]}, "base64"),
    ({"instances": "x"}, "instances"),
])
def test_malformed_predict_requests_are_400_with_a_message(url, body, needle):
    code, out = post(url, "/v1/models/toy/versions/1:predict", body)
    assert code == 400, out
    if not REAL:  # TF Serving's own wording differs; the status code is the contract
        assert needle in out["error"], out


@pytest.mark.parametrize("raw", [b"", b"   ", b"{", b"[1, 2]", b"\xff\xfe", b"null", b'"x"'])
def test_non_json_or_non_object_bodies_are_400(url, raw):
    code, out = post(url, "/v1/models/toy:predict", None, raw=raw)
    assert code == 400 and out["error"]


def test_unknown_model_version_label_on_predict(url):
    assert post(url, "/v1/models/nope:predict", {"instances": [b64(1)]})[0] == 404
    assert post(url, "/v1/models/toy/versions/3:predict", {"instances": [b64(1)]})[0] == 404
    assert post(url, "/v1/models/toy/labels/nope:predict", {"instances": [b64(1)]})[0] == 400
    assert post(url, "/v1/models/toy:explode", {"instances": [b64(1)]})[0] in (400, 404)


@local_only
def test_limits_on_body_size_and_batch(url):
    code, out = post(url, "/v1/models/toy:predict", {"instances": [b64(1)] * 51})
    assert code == 400 and "at most 50" in out["error"]
    code, out = post(url, "/v1/models/toy:predict", None, raw=b'{"instances": ["' + b"a" * 200_000 + b'"]}')
    assert code == 413 and "limit" in out["error"]


# ---- classify / regress ----------------------------------------------------------------------

def test_classify_and_regress_follow_the_signature_method(url):
    code, out = post(url, "/v1/models/half_plus_two:regress",
                     {"signature_name": "regress_x", "examples": [{"x": 2.0}, {"x": 4.0}]})
    assert code == 200
    np.testing.assert_allclose(out["results"], [3.0, 4.0])
    code, out = post(url, "/v1/models/half_plus_two:classify",
                     {"signature_name": "classify_x", "context": {"x": 0.0}, "examples": [{}]})
    assert code == 200
    assert [c for c, _ in out["results"][0]] == ["a", "b"]
    np.testing.assert_allclose([s for _, s in out["results"][0]], [0.5, 0.5])
    # A predict signature is not a classifier, as in TF Serving.
    code, out = post(url, "/v1/models/half_plus_two:classify",
                     {"signature_name": "serving_default", "examples": [{"x": 1.0}]})
    assert code == 400 and "classify" in out["error"]
    code, out = post(url, "/v1/models/half_plus_two:regress", {"signature_name": "regress_x"})
    assert code == 400


# ---- loading: policies, labels, hot loading, refusing what was not pushed -----------------------

@local_only
def test_hot_loading_swaps_versions_without_a_gap(tmp_path):
    base = str(tmp_path / "m")
    push(base, 1, scale=1.0)
    manager = ModelManager([ModelSpec("m", base)], poll_seconds=0.1).start()
    server = ServerThread(create_app(manager)).start()
    try:
        def answer():
            r = httpx.post(server.url + "/v1/models/m:predict", json={"instances": [b64(1.0)]})
            assert r.status_code == 200, r.text  # never an error, before, during or after the swap
            return r.json()["predictions"][0]

        assert answer() == pytest.approx(sigmoid(1.0))
        # A half-written version (no manifest yet) and one whose bytes changed are never loaded.
        half = str(tmp_path / "m" / "5")
        shutil.copytree(os.path.join(base, "1"), half)
        os.remove(os.path.join(half, MANIFEST))
        push(base, 4, scale=4.0)
        with open(os.path.join(base, "4", "saved_model.pb"), "ab") as fh:
            fh.write(b"\0")
        push(base, 2, scale=2.0)
        assert wait_until(lambda: answer() == pytest.approx(sigmoid(2.0)), 30)
        status = {s["version"]: s for s in manager.status("m")}
        assert status["2"]["state"] == "AVAILABLE" and "1" not in status  # latest 1: v1 unloaded
        assert status["4"]["state"] == "END" and "sha256" in status["4"]["status"]["error_message"]
        assert status["5"]["state"] == "END" and MANIFEST in status["5"]["status"]["error_message"]
        for _ in range(20):
            assert answer() == pytest.approx(sigmoid(2.0))
    finally:
        server.stop()
        manager.stop()


@local_only
def test_hot_swaps_do_not_accumulate_frozen_objects(tmp_path):
    """The manager freezes the GC after a load (request latency). A frozen object is never
    collected, and a loaded SavedModel holds reference cycles: without unfreezing at each swap,
    every replaced version stayed in memory (~43 MB per swap of the default ranker)."""
    base = str(tmp_path / "m")
    manager = ModelManager([ModelSpec("m", base)], warmup=False)
    frozen = []
    try:
        for version in (1, 2, 3, 4):
            push(base, version, scale=float(version))
            manager.poll()
            assert manager.get("m").version == version
            frozen.append(gc.get_freeze_count())
        # Each swap replaces one model by one of the same size: the frozen set stays flat (a
        # leaked copy of this tiny model is ~2,700 objects).
        assert frozen[3] - frozen[1] < 1000, frozen
    finally:
        gc.unfreeze()


@local_only
def test_policies_and_labels(tmp_path):
    base = str(tmp_path / "m")
    for v in (1, 2, 3):
        push(base, v, scale=float(v))
    cases = [(ModelSpec("m", base), [3]), (ModelSpec("m", base, num_versions=2), [2, 3]),
             (ModelSpec("m", base, policy="all"), [1, 2, 3]),
             (ModelSpec("m", base, policy="specific", versions=(1, 9)), [1])]
    for spec, expected in cases:
        manager = ModelManager([spec], warmup=False)
        manager.poll()
        assert sorted(manager.state("m").available) == expected, spec
    manager = ModelManager([ModelSpec("m", base, policy="all", labels=(("stable", 2), ("gone", 9)))])
    manager.poll()
    assert manager.get("m", label="stable").version == 2
    assert manager.get("m").version == 3
    with pytest.raises(Exception, match="Unrecognized servable version label: gone"):
        manager.get("m", label="gone")


@local_only
def test_config_reload_applies_a_new_label_without_restart(tmp_path):
    base = str(tmp_path / "m")
    push(base, 1)
    push(base, 2)
    labels = {"stable": 1}
    manager = ModelManager(lambda: [ModelSpec("m", base, policy="all",
                                              labels=tuple(labels.items()))], warmup=False)
    manager.poll()
    assert manager.get("m", label="stable").version == 1
    labels["stable"] = 2
    manager.poll()
    assert manager.get("m", label="stable").version == 2


def test_model_config_parse_errors_name_the_problem():
    with pytest.raises(ValueError, match="twice"):
        parse_model_config('model_config_list { config { name: "a" base_path: "/x" } '
                           'config { name: "a" base_path: "/y" } }')
    with pytest.raises(ValueError, match="base_path"):
        parse_model_config('model_config_list { config { name: "a" } }')
    with pytest.raises(ValueError, match="not a TF Serving"):
        parse_model_config("model_config_list { oops }")
    (spec,) = parse_model_config('model_config_list { config { name: "a" base_path: "/x" '
                                 'model_version_policy { latest { num_versions: 2 } } '
                                 'version_labels { key: "stable" value: 5 } } }')
    assert (spec.policy, spec.num_versions, spec.labels) == ("latest", 2, (("stable", 5),))
