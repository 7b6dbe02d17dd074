"""POST /v1/recommend (serving/recommend.py) against a fake TF Serving (tests/serving/fake_tf_serving.py).

No TensorFlow and no sockets (the fake is reached through httpx's ASGI transport), except the
tests named *_socket*, which run the fake under uvicorn on a free loopback port.
"""

import contextlib
import copy
import json
import socket
import threading
import time

import warnings

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recsys.config import ServingConfig
from recsys.serving import ab
from recsys.serving.recommend import create_app, main
with warnings.catch_warnings():  # Starlette 1.x: "use httpx2"; httpx is what the lock pins
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from tests.serving.fake_tf_serving import (CATALOGUE, FLOAT, ITEM, QUERY, RANKER_INPUTS, STRING, FakeTFServing,
                                   ranker_version, retriever_version)

URL = "http://tf-serving.test"
FEATURES = {"user_age": 34, "user_gender": "F", "user_region": "r03", "timestamp": 1700000000,
            "history": ["i00003", "i00007"]}
REQUEST = {"user_id": "u000001", "features": FEATURES, "exclude": ["i00000"], "k": 5}
PRICE = {it["item_id"]: it["item_price"] for it in CATALOGUE}


def request(**changes):
    body = copy.deepcopy(REQUEST)
    body.update(changes)
    return body


def with_features(**changes):
    features = {**FEATURES, **changes}
    return request(features={k: v for k, v in features.items() if v is not None})


def standard_fake() -> FakeTFServing:
    fake = FakeTFServing()
    fake.add("retriever", "1", retriever_version(), labels=["stable"])
    fake.add("ranker", "1", ranker_version(), labels=["stable"])
    return fake


@contextlib.contextmanager
def service(fake: FakeTFServing, url: str = URL, transport=True, app_kwargs=None, **config):
    transport = httpx.ASGITransport(app=fake.app) if transport is True else transport
    app = create_app(ServingConfig(**config), url, transport=transport, **(app_kwargs or {}))
    with TestClient(app, raise_server_exceptions=True) as client:
        yield client


def assert_error(response, status, *fragments):
    assert response.status_code == status, response.text
    doc = response.json()
    assert set(doc) == {"error"} and isinstance(doc["error"], str), doc
    for fragment in fragments:
        assert fragment in doc["error"], (fragment, doc["error"])
    return doc["error"]


# -- the flow --------------------------------------------------------------------------------------

def test_full_flow():
    fake = standard_fake()
    with service(fake, candidates=8) as client:
        r = client.post("/v1/recommend", json=request())
    assert r.status_code == 200, r.text
    doc = r.json()

    # Retrieval got the query features and history ∪ exclude, nothing else.
    [(version, sent)] = fake.predicts("retriever")
    assert sent["signature_name"] == "serving_raw"
    [instance] = sent["instances"]
    assert instance == {**FEATURES, "user_id": "u000001", "exclude": ["i00003", "i00007", "i00000"]}

    # The retriever answers its catalogue in order minus the exclusions; the first 8 are ranked.
    retrieved = [it["item_id"] for it in CATALOGUE if it["item_id"] not in {"i00003", "i00007", "i00000"}]
    [(_, ranked)] = fake.predicts("ranker")
    assert [i["item_id"] for i in ranked["instances"]] == retrieved[:8]
    for inst in ranked["instances"]:
        item = next(it for it in CATALOGUE if it["item_id"] == inst["item_id"])
        assert inst == {**FEATURES, "user_id": "u000001", **item}

    # Top k by the ranker (the price), each with its retrieval score.
    best = sorted(retrieved[:8], key=lambda i: -PRICE[i])[:5]
    assert [it["item_id"] for it in doc["items"]] == best
    for it in doc["items"]:
        assert it["score"] == pytest.approx(PRICE[it["item_id"]] / 100)
        assert it["retrieval_score"] == pytest.approx(10.0 - 0.1 * int(it["item_id"][1:]))
    assert doc["user_id"] == "u000001" and doc["experiment"] == "ranker-ab" and doc["bucket"] == "stable"
    assert doc["models"] == {"retriever": {"name": "retriever", "version": "1", "label": "stable"},
                             "ranker": {"name": "ranker", "version": "1", "label": "stable"}}


def test_excluded_items_never_come_back_even_from_a_careless_retriever():
    fake = FakeTFServing()
    careless = retriever_version(k=12)
    inner = careless.predict
    careless.predict = lambda instances: inner([{**i, "exclude": [""]} for i in instances])
    fake.add("retriever", "1", careless)
    fake.add("ranker", "1", ranker_version())
    excluded = ["i00001", "i00005", "i00009"]
    with service(fake) as client:
        r = client.post("/v1/recommend", json=with_features(history=["i00002"]) | {"exclude": excluded,
                                                                                  "k": 20})
    assert r.status_code == 200, r.text
    returned = {it["item_id"] for it in r.json()["items"]}
    assert not returned & {*excluded, "i00002"}
    assert len(returned) == 12 - 4
    assert fake.predicts("retriever")[0][1]["instances"][0]["exclude"] == ["i00002", *excluded]


def test_fewer_items_than_k_padding_dropped():
    fake = standard_fake()
    almost_all = [it["item_id"] for it in CATALOGUE[:37]]  # 3 left, the retriever pads to 10
    with service(fake) as client:
        r = client.post("/v1/recommend", json=request(exclude=almost_all, k=10))
    assert r.status_code == 200, r.text
    assert [it["item_id"] for it in r.json()["items"]] == ["i00039", "i00038", "i00037"]


def test_missing_timestamp_is_the_request_time_missing_history_is_empty():
    fake = standard_fake()
    before = int(time.time())
    with service(fake) as client:
        r = client.post("/v1/recommend", json=with_features(timestamp=None, history=None) | {"exclude": []})
    after = int(time.time())
    assert r.status_code == 200, r.text
    [instance] = fake.predicts("retriever")[0][1]["instances"]
    assert before <= instance["timestamp"] <= after
    assert instance["history"] == [""] and instance["exclude"] == [""]  # "" pads, never an empty list
    ranked = fake.predicts("ranker")[0][1]["instances"]
    assert {i["timestamp"] for i in ranked} == {instance["timestamp"]}


def test_unknown_ids_and_unused_features_are_fine():
    fake = standard_fake()
    with service(fake) as client:
        r = client.post("/v1/recommend", json={"user_id": "never-seen", "features": {
            **FEATURES, "history": ["no-such-item"], "device": "phone"}, "exclude": ["zzz"]})
    assert r.status_code == 200, r.text
    assert len(r.json()["items"]) == 10  # default k
    [instance] = fake.predicts("retriever")[0][1]["instances"]
    assert "device" not in instance and instance["user_id"] == "never-seen"


def test_candidates_are_ranked_in_batches_of_max_batch():
    fake = standard_fake()
    with service(fake, candidates=7, max_batch=3) as client:
        r = client.post("/v1/recommend", json=request(k=7))
    assert r.status_code == 200, r.text
    sizes = [len(body["instances"]) for _, body in fake.predicts("ranker")]
    assert sizes == [3, 3, 1]
    scores = [it["score"] for it in r.json()["items"]]
    assert scores == sorted(scores, reverse=True) and len(scores) == 7


def test_multi_valued_item_features_padded_within_a_batch():
    tags = {"item_tags": (STRING, 2)}
    catalogue = [{**it, "item_tags": [f"t{j}" for j in range(n % 4)]} for n, it in enumerate(CATALOGUE)]
    fake = FakeTFServing()
    fake.add("retriever", "1", retriever_version(catalogue, item={**ITEM, **tags}))
    fake.add("ranker", "1", ranker_version(lambda i: len([t for t in i["item_tags"] if t]) + 0.0,
                                           inputs={**RANKER_INPUTS, **tags}))
    with service(fake) as client:
        r = client.post("/v1/recommend", json=with_features(history=["i00003", "i00007", "i00009"]))
    assert r.status_code == 200, r.text
    instances = fake.predicts("ranker")[0][1]["instances"]
    assert len({len(i["item_tags"]) for i in instances}) == 1  # one width per batch
    for inst in instances:
        want = next(it["item_tags"] for it in catalogue if it["item_id"] == inst["item_id"])
        assert [t for t in inst["item_tags"] if t] == want
    # Retrieved: items 0-12 but the history; tags: n % 4 of them.
    assert [it["score"] for it in r.json()["items"]][:4] == [3.0, 2.0, 2.0, 2.0]


def test_regression_ranker_answering_dict_rows():
    fake = FakeTFServing()
    fake.add("retriever", "1", retriever_version())
    fake.add("ranker", "1", ranker_version(lambda i: 5.0 - i["item_price"] / 10, output="rating",
                                           as_dict=True))
    with service(fake) as client:
        r = client.post("/v1/recommend", json=request(k=3))
    assert r.status_code == 200, r.text
    assert [it["item_id"] for it in r.json()["items"]] == ["i00001", "i00002", "i00004"]


# -- versions and A/B routing ---------------------------------------------------------------------

def reported_and_called(fake, doc):
    for model in ("retriever", "ranker"):
        called = {v for v, _ in fake.predicts(model)}
        assert called == {doc["models"][model]["version"]}, (model, called, doc["models"])
    fake.calls.clear()


def test_no_labels_newest_available_version():
    fake = FakeTFServing()
    fake.add("retriever", "1700000000", retriever_version())
    fake.add("retriever", "1700000100", retriever_version())
    fake.add("ranker", "1700000000", ranker_version())
    loading = fake.add("ranker", "1700000200", ranker_version())
    loading.state = "LOADING"
    with service(fake) as client:
        doc = client.post("/v1/recommend", json=request()).json()
    assert doc["models"] == {"retriever": {"name": "retriever", "version": "1700000100", "label": None},
                             "ranker": {"name": "ranker", "version": "1700000000", "label": None}}
    reported_and_called(fake, doc)


def test_canary_routing_by_bucket():
    fake = FakeTFServing()
    fake.add("retriever", "1", retriever_version(), labels=["stable"])
    fake.add("ranker", "1", ranker_version(), labels=["stable"])
    fake.add("ranker", "2", ranker_version(lambda i: -i["item_price"]), labels=["canary"])
    users = [f"u{n:06d}" for n in range(40)]
    buckets = {u: ab.assign("exp-1", u, 0.5) for u in users}
    assert set(buckets.values()) == {"stable", "canary"}
    with service(fake, experiment="exp-1", canary_share=0.5) as client:
        for user in users:
            doc = client.post("/v1/recommend", json=request(user_id=user, k=3)).json()
            canary = buckets[user] == "canary"
            assert doc["bucket"] == buckets[user] and doc["experiment"] == "exp-1"
            assert doc["models"]["ranker"] == {"name": "ranker", "version": "2" if canary else "1",
                                               "label": buckets[user]}
            # No canary retriever: canary users fall back to its stable label.
            assert doc["models"]["retriever"] == {"name": "retriever", "version": "1", "label": "stable"}
            ids = [it["item_id"] for it in doc["items"]]
            assert ids == (["i00001", "i00002", "i00004"] if canary else ["i00012", "i00011", "i00010"])
            reported_and_called(fake, doc)


def test_canary_bucket_without_canary_label_gets_stable_not_newest():
    fake = standard_fake()
    fake.add("ranker", "2", ranker_version())  # newer, unlabelled
    with service(fake, canary_share=1.0) as client:
        doc = client.post("/v1/recommend", json=request()).json()
    assert doc["bucket"] == "canary"
    assert doc["models"]["ranker"] == {"name": "ranker", "version": "1", "label": "stable"}
    reported_and_called(fake, doc)


def test_stable_bucket_without_stable_label_avoids_the_canary():
    fake = FakeTFServing()
    fake.add("retriever", "1", retriever_version())
    fake.add("ranker", "1", ranker_version())
    fake.add("ranker", "2", ranker_version(), labels=["canary"])
    with service(fake, canary_share=0.0) as client:
        doc = client.post("/v1/recommend", json=request()).json()
    assert doc["models"]["ranker"] == {"name": "ranker", "version": "1", "label": None}
    reported_and_called(fake, doc)


def test_label_cache_and_a_version_unloaded_meanwhile():
    fake = standard_fake()
    with service(fake, app_kwargs={"cache_seconds": 60}) as client:
        assert client.post("/v1/recommend", json=request()).json()["models"]["ranker"]["version"] == "1"
        fake.add("ranker", "2", ranker_version(), labels=["stable"])  # relabel: cached for now
        doc = client.post("/v1/recommend", json=request()).json()
        assert doc["models"]["ranker"]["version"] == "1"
        fake.remove("ranker", "1")  # unloaded: the 404 makes it resolve again, once
        fake.calls.clear()
        doc = client.post("/v1/recommend", json=request()).json()
        assert doc["models"]["ranker"] == {"name": "ranker", "version": "2", "label": "stable"}
        assert [v for v, _ in fake.predicts("ranker")] == ["1", "2"]  # a 404, then the retry
    with service(fake, app_kwargs={"cache_seconds": 0}) as client:
        fake.add("ranker", "3", ranker_version(), labels=["stable"])
        assert client.post("/v1/recommend", json=request()).json()["models"]["ranker"]["version"] == "3"


# -- a client's mistakes: 4xx {"error": ...} naming the field, the value, the expectation ----------

BAD = [
    (b"", "request body is empty"),
    (b"   ", "request body is empty"),
    (b"not json", "not valid JSON"),
    (b'{"user_id": "u1",', "not valid JSON"),
    (b"\xff\xfe\x00", "not valid JSON"),
    (b"[1, 2]", "expected a JSON object"),
    (b"null", "expected a JSON object"),
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    (request(k="10"), 'k: got "10"; expected a valid integer'),
    (request(k=10.5), "k: got 10.5"),
    (request(k=True), "k: got true"),
    (request(k=0), "k: got 0; expected greater than or equal to 1"),
    (request(k=101), "k: got 101; expected an integer from 1 to 100 (serving.max_k)"),
    (request(user_id=123), "user_id: got 123; expected a valid string"),
    (request(user_id=""), "user_id"),
    (request(user_id="u" * 300), "user_id"),
    (request(user_id="\ud800"), "user_id: got \"\\ud800\""),  # JSON, not encodable as UTF-8
    (request(exclude=["i1", "\udfff"]), "exclude[1]: got \"\\udfff\""),
    (with_features(user_region="\ud800"), "features.user_region: got \"\\ud800\"; expected text without"),
    (request(features=[1, 2]), "features: got [1, 2]; expected a valid dictionary"),
    (request(features="x"), "features"),
    (request(exclude="i00001"), "exclude: got \"i00001\""),
    (request(exclude=[1]), "exclude[0]: got 1; expected a valid string"),
    (request(exclude=[f"i{n}" for n in range(1001)]), "exclude"),
    (request(foo=1), "unknown field 'foo'; expected only user_id, features, exclude, k"),
    ({"features": FEATURES}, "user_id is required"),
    (with_features(user_age=None), "features.user_age is missing; model 'retriever' version 1 needs "
                                   "it: expected an integer (DT_INT64)"),
    (with_features(user_gender=None), "features.user_gender is missing"),
    (with_features(user_age="34"), 'features.user_age: got "34" (a string); expected an integer (DT_INT64)'),
    (with_features(user_age=34.5), "features.user_age: got 34.5 (a number); expected an integer"),
    (with_features(user_age=True), "features.user_age: got true (a boolean)"),
    (with_features(user_age=2 ** 70), "features.user_age: got 1180591620717411303424; expected an "
                                      "integer in [-9223372036854775808, 9223372036854775808)"),
    (with_features(user_gender=3), "features.user_gender: got 3 (an integer); expected a string (DT_STRING)"),
    (with_features(user_gender=["F"]), "features.user_gender: got [\"F\"] (a list); expected a string"),
    (with_features(user_gender={"a": 1}), "features.user_gender: got {\"a\": 1} (an object)"),
    (with_features(history="i00003"), 'features.history: got "i00003" (a string); expected a list of '
                                      'strings (DT_STRING, at most 1000)'),
    (with_features(history=[1, 2]), "features.history[0]: got 1 (an integer); expected a string"),
    (with_features(history=[f"i{n}" for n in range(1001)]), "features.history: got a list of 1001"),
    (with_features(timestamp="yesterday"), "features.timestamp: got \"yesterday\""),
    (with_features(item_id="i00001"), "features.item_id: got \"i00001\"; expected nothing: it is an "
                                      "item feature"),
    (with_features(item_price=3.0), "features.item_price"),
    (with_features(exclude=["i1"]), "features.exclude: got [\"i1\"]; expected the top-level exclude list"),
    (with_features(user_id="u000002"), "features.user_id: got \"u000002\"; expected the top-level user_id"),
    (request(features={f"f{n}": 1 for n in range(101)}), "features: got"),
]


@pytest.mark.parametrize("body, fragment", BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_input_is_a_400_naming_the_field(body, fragment):
    fake = standard_fake()
    with service(fake) as client:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        assert_error(client.post("/v1/recommend", content=raw), 400, fragment)
        # Content-Type does not matter (as in TF Serving: `curl -d` sends form-urlencoded).
        assert client.post("/v1/recommend", content=json.dumps(REQUEST),
                           headers={"content-type": "application/x-www-form-urlencoded"}).status_code == 200


def test_non_finite_and_out_of_range_numbers_for_float_features():
    fake = FakeTFServing()
    query = {**QUERY, "user_score": (FLOAT, 1)}
    fake.add("retriever", "1", retriever_version(query=query))
    fake.add("ranker", "1", ranker_version())
    with service(fake) as client:
        for value, fragment in ((b"NaN", "got NaN"), (b"Infinity", "got Infinity"),
                                (b"1e39", "got 1e+39; expected a finite number (DT_FLOAT)"),
                                (str(10 ** 400).encode(), "expected a finite number"),
                                (b'"1.5"', 'got "1.5" (a string); expected a number (DT_FLOAT)')):
            raw = json.dumps(with_features(user_score=0)).replace('"user_score": 0',
                                                                  '"user_score": ' + value.decode())
            assert_error(client.post("/v1/recommend", content=raw), 400, "features.user_score", fragment)
        ok = client.post("/v1/recommend", json=with_features(user_score=3))
        assert ok.status_code == 200
        assert fake.predicts("retriever")[-1][1]["instances"][0]["user_score"] == 3.0


def test_body_over_max_body_bytes_is_413():
    fake = standard_fake()
    big = request(exclude=[f"i{n:05d}" for n in range(400)])
    with service(fake, max_body_bytes=2000) as client:
        assert_error(client.post("/v1/recommend", json=big), 413, "expected at most 2000",
                     "serving.max_body_bytes")
        # Chunked, without Content-Length: counted while reading.
        raw = json.dumps(big).encode()
        chunks = (raw[i:i + 500] for i in range(0, len(raw), 500))
        assert_error(client.post("/v1/recommend", content=chunks), 413, "over 2000 bytes")
        assert client.post("/v1/recommend", json=request()).status_code == 200


def test_unknown_routes_and_methods_answer_json():
    with service(standard_fake()) as client:
        assert_error(client.get("/v1/nothing"), 404, "Not Found")
        assert_error(client.get("/v1/recommend"), 405, "Method Not Allowed")


# -- the model server's failures: 502/503/504 with a clear JSON error -------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_model_server_down_is_503_socket():
    url = f"http://127.0.0.1:{free_port()}"
    with service(FakeTFServing(), url=url, transport=None) as client:
        assert_error(client.post("/v1/recommend", json=request()), 503, "model server unreachable", url)
        r = client.get("/v1/recommend/healthz")
        assert r.status_code == 503 and r.json()["status"] == "unavailable"
        assert "unreachable" in r.json()["error"]


def test_model_server_errors_are_502():
    fake = standard_fake()
    with service(fake) as client:
        fake.fail = (500, "Internal: out of memory")
        assert_error(client.post("/v1/recommend", json=request()), 502, "answered 500",
                     "out of memory")
        fake.fail = (503, "<html>bad gateway</html>")
        assert_error(client.post("/v1/recommend", json=request()), 502, "answered 503")
        fake.fail = None
        assert client.post("/v1/recommend", json=request()).status_code == 200


@pytest.mark.parametrize("answer, fragment", [
    (lambda n: ["x"] * n, "expected one finite score per candidate, got \"x\""),
    (lambda n: [float("nan")] * n, "expected one finite score"),
    (lambda n: [0.5] * (n - 1), "expected \"predictions\" with 10 rows"),
    (lambda n: [{"a": 1, "b": 2}] * n, "expected one finite score"),
])
def test_nonsense_from_the_ranker_is_502(answer, fragment):
    fake = standard_fake()
    fake.models["ranker"]["1"].predict = lambda instances: answer(len(instances))
    with service(fake) as client:
        assert_error(client.post("/v1/recommend", json=request()), 502, "model 'ranker' version 1",
                     fragment)


def test_nonsense_from_the_retriever_is_502():
    fake = standard_fake()
    version = fake.models["retriever"]["1"]
    inner = version.predict
    version.predict = lambda instances: [{k: v for k, v in row.items() if k != "item_brand"}
                                         for row in inner(instances)]
    with service(fake) as client:
        assert_error(client.post("/v1/recommend", json=request()), 502,
                     "output 'item_brand' should hold one value per item")
        fake.models["retriever"]["1"].outputs.pop("exclude", None)
        version.inputs.pop("exclude")
        fake.models["retriever"]["2"] = version  # a version whose signature has no exclude input
        fake.labels["retriever"]["stable"] = "2"
    with service(fake) as client:
        assert_error(client.post("/v1/recommend", json=request()), 502, "has no 'exclude' input")


def test_model_not_served_is_503_and_models_disagreeing_502():
    fake = FakeTFServing()
    fake.add("retriever", "1", retriever_version())
    with service(fake) as client:
        assert_error(client.post("/v1/recommend", json=request()), 503,
                     "does not serve model 'ranker'")
    fake.add("ranker", "1", ranker_version(inputs={**RANKER_INPUTS, "item_color": (STRING, 1)}))
    with service(fake) as client:  # a ranker input nobody supplies is demanded from the client...
        assert_error(client.post("/v1/recommend", json=request()), 400, "features.item_color is missing")
    fake.models["ranker"]["1"] = ranker_version(inputs={**RANKER_INPUTS, "user_age": (STRING, 1)})
    with service(fake) as client:  # ...but two models disagreeing on a dtype is not its fault
        assert_error(client.post("/v1/recommend", json=request()), 502,
                     "models disagree on input 'user_age': 'retriever' version 1 takes an integer "
                     "(DT_INT64), 'ranker' version 1 a string (DT_STRING)")


def test_a_refused_predict_is_502():
    fake = standard_fake()
    fake.models["ranker"]["1"].refuse = "Expected tensor of type int64 but got type string"
    with service(fake) as client:
        assert_error(client.post("/v1/recommend", json=request()), 502,
                     "model 'ranker' version 1 refused the request (400): Expected tensor of type int64")


def test_timeout_is_504():
    fake = standard_fake()
    fake.models["ranker"]["1"].delay = 1.0
    with service(fake, app_kwargs={"timeout": 0.2}) as client:
        assert_error(client.post("/v1/recommend", json=request()), 504, "did not answer", "0.2 s")


def test_timeout_is_504_socket():
    fake = standard_fake()
    fake.models["ranker"]["1"].delay = 1.0
    with fake_on_a_socket(fake) as url, service(fake, url=url, transport=None,
                                                app_kwargs={"timeout": 0.2}) as client:
        started = time.monotonic()
        assert_error(client.post("/v1/recommend", json=request()), 504, "did not answer", "0.2 s")
        assert time.monotonic() - started < 0.9  # the timeout, not the fake's delay
        fake.models["ranker"]["1"].delay = 0.0
        assert client.post("/v1/recommend", json=request()).status_code == 200


def test_a_nan_item_feature_from_the_retriever_is_502():
    fake = standard_fake()
    version = fake.models["retriever"]["1"]
    inner = version.predict
    version.predict = lambda instances: [{**row, "item_price": [float("nan")] * len(row["item_price"])}
                                         for row in inner(instances)]  # written as a bare NaN
    with service(fake) as client:
        assert_error(client.post("/v1/recommend", json=request()), 502, "item_price[0] is NaN",
                     "expected finite numbers")
    assert not fake.predicts("ranker")  # never sent on


# -- health, OpenAPI, a real socket, the command line ----------------------------------------------

def test_healthz_reports_versions_per_bucket():
    fake = standard_fake()
    fake.add("ranker", "2", ranker_version(), labels=["canary"])
    with service(fake, canary_share=0.1) as client:
        for path in ("/v1/recommend/healthz", "/healthz"):
            r = client.get(path)
            assert r.status_code == 200, r.text
            doc = r.json()
            assert doc["status"] == "ok" and doc["canary_share"] == 0.1 and "error" not in doc
            ranker = doc["models"]["ranker"]
            assert ranker["available_versions"] == ["2", "1"]
            assert ranker["labels"] == {"stable": "1", "canary": "2"}
            assert ranker["buckets"]["canary"] == {"name": "ranker", "version": "2", "label": "canary"}
            assert doc["models"]["retriever"]["buckets"]["canary"]["label"] == "stable"
        fake.remove("ranker", "1")
        fake.remove("ranker", "2")
        r = client.get("/v1/recommend/healthz")
        assert r.status_code == 503 and "no AVAILABLE version" in r.json()["error"]


def test_openapi_documents_request_response_and_errors():
    with service(standard_fake()) as client:
        spec = client.get("/openapi.json").json()
    op = spec["paths"]["/v1/recommend"]["post"]
    body = op["requestBody"]["content"]["application/json"]
    assert body["schema"] == {"$ref": "#/components/schemas/RecommendRequest"}
    assert body["example"]["user_id"] == "u000001"
    schema = spec["components"]["schemas"]["RecommendRequest"]
    assert set(schema["properties"]) == {"user_id", "features", "exclude", "k"}
    assert schema["additionalProperties"] is False and schema["required"] == ["user_id"]
    assert schema["properties"]["k"]["anyOf"][0] == {"type": "integer", "minimum": 1, "maximum": 100}
    assert schema["examples"][0]["features"]["history"] == ["i00003", "i00007"]
    ok = op["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/RecommendResponse"}
    assert spec["components"]["schemas"]["RecommendResponse"]["examples"][0]["bucket"] == "stable"
    for status in ("400", "413", "502", "503", "504"):
        assert op["responses"][status]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/ErrorBody"}
    assert "/v1/recommend/healthz" in spec["paths"]


@contextlib.contextmanager
def fake_on_a_socket(fake):
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(fake.app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(5)


def test_real_sockets_keep_alive_client_socket():
    fake = standard_fake()
    with fake_on_a_socket(fake) as url:
        app = create_app(ServingConfig(), url)
        with TestClient(app) as client:
            for _ in range(3):
                r = client.post("/v1/recommend", json=request())
                assert r.status_code == 200, r.text
            server = app.state.recommender.server
            assert server._client is not None
        assert server._client is None  # closed at shutdown


def test_concurrent_requests_share_one_client():
    import asyncio

    fake = standard_fake()
    fake.add("ranker", "2", ranker_version(lambda i: -i["item_price"]), labels=["canary"])
    app = create_app(ServingConfig(canary_share=0.5), URL, transport=httpx.ASGITransport(app=fake.app))

    async def run():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://rec") as c:
            users = [f"u{n:06d}" for n in range(60)]
            answers = await asyncio.gather(*(c.post("/v1/recommend", json=request(user_id=u))
                                             for u in users))
        await app.state.recommender.server.aclose()
        return users, answers

    users, answers = asyncio.run(run())
    for user, r in zip(users, answers):
        assert r.status_code == 200, r.text
        canary = ab.assign("ranker-ab", user, 0.5) == "canary"
        assert r.json()["models"]["ranker"]["version"] == ("2" if canary else "1")
    # One label lookup per (model, bucket) and one metadata fetch per version, not one per request.
    lookups = [path for method, path, _ in fake.calls if "/labels/" in path]
    assert sorted(lookups) == sorted(["/v1/models/ranker/labels/stable"] * 1 + [
        "/v1/models/ranker/labels/canary", "/v1/models/retriever/labels/stable",
        "/v1/models/retriever/labels/canary", "/v1/models/retriever/labels/stable"])
    assert len([p for _, p, _ in fake.calls if p.endswith("/metadata")]) == 3


def test_command_line(monkeypatch, capsys):
    import uvicorn

    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, host, port, **kw: seen.update(
        app=app, host=host, port=port, **kw))
    assert main(["--set", "serving.canary_share=0.2", "--set", "serving.port=9001"]) == 0
    assert seen["host"] == "127.0.0.1" and seen["port"] == 8502
    # Load shedding: uvicorn answers 503 beyond serving.max_concurrency instead of queueing.
    assert seen["limit_concurrency"] == 64 and seen["access_log"] is False
    assert seen["app"].state.recommender.server.url == "http://127.0.0.1:9001"
    assert seen["app"].state.recommender.config.canary_share == 0.2
    assert main(["--model-server-url", "http://tfs:8501/", "--port", "9000", "--host", "0.0.0.0"]) == 0
    assert (seen["host"], seen["port"]) == ("0.0.0.0", 9000)
    assert seen["app"].state.recommender.server.url == "http://tfs:8501"
    assert main(["--set", "serving.canary_share=1.5"]) == 2
    assert "serving.canary_share: '1.5'; expected a number >= 0 and <= 1" in capsys.readouterr().err
    assert main(["--set", "serving.nope=1"]) == 2


# -- fuzz: random JSON in every field never makes a 5xx -------------------------------------------

TEXT = st.one_of(st.text(max_size=12), st.sampled_from(["u000001", "i00003", "", "\ud800", "\x00", "F"]))
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-2 ** 80, max_value=2 ** 80)
    | st.floats(allow_nan=True, allow_infinity=True) | TEXT,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(TEXT, children, max_size=4),
    max_leaves=12)
FEATURE = st.one_of(JSON, st.integers(min_value=-5, max_value=2 ** 65), st.lists(TEXT, max_size=6))
FEATURE_NAMES = [*QUERY, "item_id", "item_price", "exclude", "device"]
FEATURES_ST = st.one_of(
    JSON,
    st.fixed_dictionaries({}, optional={n: FEATURE for n in FEATURE_NAMES}),
    # valid features with one or two of them replaced or removed
    st.dictionaries(st.sampled_from(FEATURE_NAMES), st.one_of(FEATURE, st.none()), max_size=2).map(
        lambda d: {k: v for k, v in {**FEATURES, **d}.items() if v is not None}))
FIELDS = {"user_id": st.one_of(TEXT, JSON), "features": FEATURES_ST,
          "exclude": st.one_of(JSON, st.lists(TEXT, max_size=8)), "k": st.one_of(JSON, st.integers(-3, 150)),
          "extra": JSON}
BODY = st.one_of(
    st.fixed_dictionaries({}, optional=FIELDS),
    # a valid request with one or two fields replaced: reaches the model calls more often
    st.lists(st.sampled_from(list(FIELDS)), min_size=1, max_size=2, unique=True).flatmap(
        lambda names: st.fixed_dictionaries({n: FIELDS[n] for n in names})).map(lambda d: {**REQUEST, **d}))
RAW = st.one_of(BODY.map(lambda b: json.dumps(b).encode()), JSON.map(lambda b: json.dumps(b).encode()),
                st.binary(max_size=40))


def test_fuzz_never_5xx_and_still_answers():
    fake = standard_fake()
    seen = []
    with service(fake, max_body_bytes=4096) as client:

        @settings(max_examples=1000, deadline=None, database=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
        @given(raw=RAW)
        def fuzz(raw):
            r = client.post("/v1/recommend", content=raw)
            seen.append(r.status_code)
            assert r.status_code in (200, 400, 413), (raw, r.status_code, r.text)
            doc = r.json()
            if r.status_code != 200:
                assert set(doc) == {"error"} and doc["error"]
                return
            body = json.loads(raw)
            k = body.get("k") or 10
            excluded = set(body.get("exclude", [])) | set(body["features"].get("history", []))
            ids = [it["item_id"] for it in doc["items"]]
            assert len(ids) <= k and not set(ids) & excluded
            assert [it["score"] for it in doc["items"]] == sorted((it["score"] for it in doc["items"]),
                                                                   reverse=True)

        fuzz()
        assert len(seen) >= 1000
        assert seen.count(200) > 10 and 400 in seen  # both paths were exercised
        r = client.post("/v1/recommend", json=request())
        assert r.status_code == 200 and len(r.json()["items"]) == 5
