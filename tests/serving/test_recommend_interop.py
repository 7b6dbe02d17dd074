"""/v1/recommend against this repository's TF Serving-compatible model server (serving/model_server.py)
loading real SavedModels: tiny modules with the ``serving_raw`` contracts of the retriever
(models/retrieval_export.py: ``item_ids``, ``scores`` and one output per raw item feature, multi-valued
ones [B, K, M]) and the ranker (models/export.py: one input per raw feature, ``probability``).

What the fake of test_recommend.py cannot show: the metadata JSON TF Serving's protos really give,
[B, K] / [B, K, M] outputs in row format, "" padding accepted by real string tensors, labels from a
models.config. Needs TensorFlow (skipped without it); ~5 s.
"""

import os

import httpx
import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
pytest.importorskip("tensorflow_serving")

from recsys.config import ServingConfig  # noqa: E402
from recsys.serving import ab  # noqa: E402
from recsys.serving.manifest import write_manifest  # noqa: E402
from recsys.serving.model_manager import ModelManager, ModelSpec  # noqa: E402
from recsys.serving.model_server import create_app as create_model_server  # noqa: E402
from recsys.serving.recommend import create_app  # noqa: E402
from tests.serving.test_recommend import TestClient  # noqa: E402  (imported there without the warning)

IDS = [b"i0", b"i1", b"i2", b"i3", b"i4", b"i5"]
CATEGORY = [b"c0", b"c1", b"c0", b"c1", b"c2", b"c2"]
PRICE = [1.0, 5.0, 2.0, 9.0, 3.0, 7.0]
TAGS = [[b"a", b""], [b"a", b"b"], [b"", b""], [b"b", b""], [b"a", b"c"], [b"c", b""]]
RETRIEVAL = [6.0, 5.0, 4.0, 3.0, 2.0, 1.0]  # every user gets the catalogue in this order
S = tf.string


def export_retriever(path: str, k: int = 4) -> None:
    m = tf.Module()
    m.ids, m.category = tf.Variable(IDS), tf.Variable(CATEGORY)
    m.price, m.tags, m.score = tf.Variable(PRICE), tf.Variable(TAGS), tf.Variable(RETRIEVAL)
    m.rows = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(
        tf.constant(IDS), tf.range(len(IDS), dtype=tf.int64)), default_value=-1)

    @tf.function(input_signature=[
        tf.TensorSpec([None], S, name="user_id"), tf.TensorSpec([None], tf.int64, name="user_age"),
        tf.TensorSpec([None], tf.int64, name="timestamp"), tf.TensorSpec([None, None], S, name="history"),
        tf.TensorSpec([None, None], S, name="exclude")])
    def serving_raw(user_id, user_age, timestamp, history, exclude):
        scores = tf.tile(m.score[tf.newaxis], [tf.shape(user_id)[0], 1])
        rows = m.rows.lookup(exclude)
        hit = tf.where(rows >= 0)
        cols = tf.gather_nd(rows, hit)
        scores = tf.tensor_scatter_nd_update(scores, tf.stack([hit[:, 0], cols], 1),
                                             tf.fill(tf.shape(cols), -1e9))
        values, top = tf.math.top_k(scores, k=k)
        kept = values > -5e8
        tags = tf.gather(m.tags, top)
        return {"item_ids": tf.where(kept, tf.gather(m.ids, top), ""), "scores": values,
                "item_category": tf.where(kept, tf.gather(m.category, top), ""),
                "item_price": tf.where(kept, tf.gather(m.price, top), 0.0),
                "item_tags": tf.where(kept[:, :, None], tags, tf.zeros_like(tags))}

    tf.saved_model.save(m, path, signatures={"serving_raw": serving_raw.get_concrete_function()})


def export_ranker(path: str, sign: float = 1.0) -> None:
    """probability = sigmoid(sign * (price / 10 + number of tags))."""
    m = tf.Module()
    m.sign = tf.Variable(sign)

    @tf.function(input_signature=[
        tf.TensorSpec([None], S, name="user_id"), tf.TensorSpec([None], tf.int64, name="user_age"),
        tf.TensorSpec([None], S, name="item_id"), tf.TensorSpec([None], S, name="item_category"),
        tf.TensorSpec([None], tf.float32, name="item_price"),
        tf.TensorSpec([None, None], S, name="item_tags"), tf.TensorSpec([None], tf.int64, name="timestamp"),
        tf.TensorSpec([None, None], S, name="history")])
    def serving_raw(user_id, user_age, item_id, item_category, item_price, item_tags, timestamp, history):
        tags = tf.reduce_sum(tf.cast(item_tags != "", tf.float32), axis=1)
        return {"probability": tf.sigmoid(m.sign * (item_price / 10.0 + tags))}

    tf.saved_model.save(m, path, signatures={"serving_raw": serving_raw.get_concrete_function()})


def push(base: str, version: int, exporter, **kwargs) -> None:
    staging = os.path.join(base, f".partial-{version}")
    exporter(staging, **kwargs)
    write_manifest(staging, model=os.path.basename(base), version=version)
    os.rename(staging, os.path.join(base, str(version)))


def expected(sign: float, excluded: set[bytes], k: int) -> list[str]:
    candidates = [i for i in range(len(IDS)) if IDS[i] not in excluded][:4]
    score = {i: sign * (PRICE[i] / 10 + sum(t != b"" for t in TAGS[i])) for i in candidates}
    return [IDS[i].decode() for i in sorted(candidates, key=lambda i: -score[i])][:k]


def test_against_the_model_server_with_real_savedmodels(tmp_path):
    for model in ("retriever", "ranker"):
        os.makedirs(tmp_path / model)
    push(str(tmp_path / "retriever"), 100, export_retriever)
    push(str(tmp_path / "ranker"), 100, export_ranker)
    push(str(tmp_path / "ranker"), 200, export_ranker, sign=-1.0)
    manager = ModelManager([
        ModelSpec("retriever", str(tmp_path / "retriever")),
        ModelSpec("ranker", str(tmp_path / "ranker"), policy="all",
                  labels=(("stable", 100), ("canary", 200)))])
    manager.poll()
    model_server = create_model_server(manager)
    app = create_app(ServingConfig(canary_share=0.5), "http://model-server",
                     transport=httpx.ASGITransport(app=model_server))
    users = [f"u{n}" for n in range(8)]
    assert {ab.assign("ranker-ab", u, 0.5) for u in users} == {"stable", "canary"}
    with TestClient(app) as client:
        health = client.get("/v1/recommend/healthz").json()
        assert health["status"] == "ok"
        assert health["models"]["ranker"]["labels"] == {"stable": "100", "canary": "200"}
        for user in users:
            r = client.post("/v1/recommend", json={
                "user_id": user, "features": {"user_age": 30, "history": ["i0"]}, "exclude": ["i2"],
                "k": 3})
            assert r.status_code == 200, r.text
            doc = r.json()
            canary = doc["bucket"] == "canary"
            assert doc["models"]["ranker"] == {"name": "ranker", "version": "200" if canary else "100",
                                               "label": doc["bucket"]}
            assert doc["models"]["retriever"] == {"name": "retriever", "version": "100", "label": None}
            assert [it["item_id"] for it in doc["items"]] == expected(-1.0 if canary else 1.0,
                                                                      {b"i0", b"i2"}, 3)
            assert [it["retrieval_score"] for it in doc["items"]] == [
                RETRIEVAL[IDS.index(it["item_id"].encode())] for it in doc["items"]]
        # No history, no exclude: the "" padding reaches real string tensors and is ignored.
        r = client.post("/v1/recommend", json={"user_id": "u0", "features": {"user_age": 30}, "k": 10})
        assert r.status_code == 200, r.text
        assert len(r.json()["items"]) == 4
