"""TF Serving warmup records: the file format, and the records both Trainers export."""

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2

from recsys.training import ranker as trainer, retriever as retrieval_trainer
from recsys.models.export import WARMUP_BATCH, WARMUP_RAW_INSTANCES
from recsys.config import RetrievalConfig, TrainConfig
from recsys.serving.warmup import (MAX_RECORDS, read_warmup, replay_warmup, warmup_path,
                            write_warmup)
from tests.tiny import CONFIG, ROWS, tiny_transform, write_gz

RAW_SPEC = CONFIG.raw_feature_spec()
EVAL = 3  # ROWS[3:] are the eval split: warmup requests must come from them


def test_write_read_round_trip_keeps_signatures_dtypes_and_values(tmp_path):
    requests = [("serving_default", {"examples": np.array([b"a", b"bc"], dtype=object)}),
                ("serving_raw", {"user_id": np.array([b"u1"], dtype=object),
                                 "item_price": np.array([1.5], np.float32),
                                 "timestamp": np.array([1700000000], np.int64),
                                 "history": np.array([[b"a", b""]], dtype=object)})]
    path = write_warmup(str(tmp_path), requests)
    assert path == str(tmp_path / "assets.extra" / "tf_serving_warmup_requests")
    got = read_warmup(str(tmp_path))
    assert [name for name, _ in got] == ["serving_default", "serving_raw"]
    for (_, want), (_, have) in zip(requests, got):
        assert set(want) == set(have)
        for k in want:
            assert have[k].dtype == want[k].dtype and have[k].shape == want[k].shape
            assert have[k].tolist() == want[k].tolist()
    # The records are TF Serving's PredictionLog protos with a predict request.
    first = next(iter(tf.data.TFRecordDataset(path))).numpy()
    log = prediction_log_pb2.PredictionLog.FromString(first)
    assert log.predict_log.request.model_spec.signature_name == "serving_default"
    assert list(log.predict_log.request.inputs["examples"].string_val) == [b"a", b"bc"]


def test_malformed_records_raise_naming_the_record(tmp_path):
    write_warmup(str(tmp_path), [("serving_default", {"examples": np.array([b"x"], dtype=object)})])
    path = warmup_path(str(tmp_path))
    good = next(iter(tf.data.TFRecordDataset(path))).numpy()
    not_predict = prediction_log_pb2.PredictionLog()
    not_predict.classify_log.request.model_spec.signature_name = "serving_default"
    for bad, message in ((b"\xff\xff not a proto", "record 1 is not a PredictionLog"),
                         (not_predict.SerializeToString(), "record 1 holds no predict request")):
        with tf.io.TFRecordWriter(path) as w:
            w.write(good)
            w.write(bad)
        with pytest.raises(ValueError, match=message):
            read_warmup(str(tmp_path))
    with tf.io.TFRecordWriter(path) as w:
        w.write(good)
    framed = bytearray(open(path, "rb").read())
    framed[12] ^= 0xFF  # the first data byte: its checksum no longer matches
    open(path, "wb").write(bytes(framed))
    with pytest.raises(ValueError, match="record 0 is not a readable TFRecord"):
        read_warmup(str(tmp_path))
    open(path, "wb").close()
    with pytest.raises(ValueError, match="no warmup records"):
        read_warmup(str(tmp_path))
    with pytest.raises(ValueError, match=f"at most {MAX_RECORDS}"):
        write_warmup(str(tmp_path), [("s", {"x": np.zeros([1])})] * (MAX_RECORDS + 1))


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    data, _, out = tiny_transform()
    d = tmp_path_factory.mktemp("warmup")
    train = write_gz(data[:EVAL] * 4, str(d / "train.gz"))
    eval_ = write_gz(data[EVAL:], str(d / "eval.gz"))
    common = dict(train_files=[train], eval_files=[eval_], transform_output=out._transform_output_dir,
                  features=CONFIG)
    trainer.train_and_export(serving_model_dir=str(d / "ranker"), **common,
                             train=TrainConfig(epochs=1, batch_size=4, embedding_dim=4, deep_layers=(4,)))
    retrieval_trainer.train_and_export(
        serving_model_dir=str(d / "retriever"), **common,
        config=RetrievalConfig(epochs=1, batch_size=4, embedding_dim=4, tower_layers=(4,), output_dim=4,
                               top_k=2, uniform_negatives=0))
    return str(d / "ranker"), str(d / "retriever")


def _eval_rows(n):
    """The first n eval rows, repeated when there are fewer: what the warmup batches hold."""
    rows = ROWS[EVAL:]
    return [rows[i % len(rows)] for i in range(n)]


def _features(serialized: bytes) -> dict:
    """A serialized tf.Example -> feature name -> its list of values."""
    feats = tf.train.Example.FromString(serialized).features.feature
    return {k: list(getattr(v, v.WhichOneof("kind")).value) for k, v in feats.items()}


def _raw(row, names) -> dict:
    """What a raw tf.Example of ``row`` holds (multi-valued features cut to max_length, as the
    Transform pass-through and the model see them)."""
    out = {}
    for n in names:
        values = row[n][:CONFIG[n].max_length] if CONFIG[n].is_varlen else [row[n]]
        out[n] = [v.encode() if isinstance(v, str) else v for v in values]
    return out


def test_ranker_warmup_replays_real_eval_requests(exported):
    ranker, _ = exported
    requests = read_warmup(ranker)
    assert [(name, len(next(iter(inputs.values())))) for name, inputs in requests] == [
        ("serving_default", 1), ("serving_default", WARMUP_BATCH), ("serving_raw", WARMUP_RAW_INSTANCES)]
    examples = requests[1][1]["examples"]  # serialized raw tf.Examples of the eval rows
    want = [_raw(r, RAW_SPEC) for r in _eval_rows(WARMUP_BATCH)]
    assert [_features(e) for e in examples] == [{k: v for k, v in w.items() if v} for w in want]
    raw = requests[2][1]
    assert set(raw) == set(RAW_SPEC) and raw["item_price"].dtype == np.float32
    assert raw["history"].shape[0] == WARMUP_RAW_INSTANCES and raw["history"].ndim == 2

    loaded = tf.saved_model.load(ranker)
    assert replay_warmup(loaded, ranker) == 3
    outputs = [loaded.signatures[name](**{k: tf.constant(v) for k, v in inputs.items()})["probability"]
               for name, inputs in requests]
    assert [p.shape for p in outputs] == [(1,), (WARMUP_BATCH,), (WARMUP_RAW_INSTANCES,)]
    for p in outputs:
        assert ((p.numpy() >= 0) & (p.numpy() <= 1)).all()
    # serving_raw on the same rows scores as serving_default did.
    np.testing.assert_allclose(outputs[2].numpy(), outputs[1].numpy()[:WARMUP_RAW_INSTANCES], rtol=1e-5)


def test_retriever_warmup_replays_real_eval_queries(exported):
    _, retriever = exported
    requests = read_warmup(retriever)
    sizes = [(name, len(inputs["examples"] if "examples" in inputs else inputs["exclude"]))
             for name, inputs in requests]
    assert sizes == [("serving_default", 1), ("serving_exclude", 1), ("serving_default", WARMUP_BATCH),
                     ("serving_exclude", WARMUP_BATCH), ("serving_raw", WARMUP_RAW_INSTANCES)]
    query = [n for n in RAW_SPEC if CONFIG[n].side in ("user", "context")]
    examples = requests[2][1]["examples"]  # the eval rows' user features only
    want = [_raw(r, query) for r in _eval_rows(WARMUP_BATCH)]
    assert [_features(e) for e in examples] == [{k: v for k, v in w.items() if v} for w in want]
    # Each query excludes its own (eval) item.
    assert [e[0] for e in requests[3][1]["exclude"]] == [r["item_id"].encode() for r in _eval_rows(WARMUP_BATCH)]
    assert set(requests[4][1]) == set(query) | {"exclude"}

    loaded = tf.saved_model.load(retriever)
    assert replay_warmup(loaded, retriever) == len(requests)
    for name, inputs in requests:
        out = loaded.signatures[name](**{k: tf.constant(v) for k, v in inputs.items()})
        n = len(next(iter(inputs.values())))
        assert out["item_ids"].shape == out["scores"].shape == out["item_price"].shape == (n, 2)
        assert out["item_genres"].shape == (n, 2, CONFIG["item_genres"].max_length)
