"""The retriever with each sequence encoder: trains, and save -> load gives the same top-K through
the same signatures and index, with stock TF ops only (no cuDNN kernel, no custom op)."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.python.saved_model import loader_impl

from recsys.models import retrieval_export
from recsys.models.retrieval import CANDIDATE_SIDES, QUERY_SIDES, TwoTowerModel, transformed_keys
from recsys.training.ranker import raw_rows
from recsys.training.retriever import build_catalog, train_and_export
from tests.tiny import CONFIG, ROWS, tiny_transform, to_example, write_gz
from tests.training.test_retrieval import TINY

ENCODERS = ("mean", "gru", "sasrec")
# Ops the encoders may add to the mean tower's export: all of them in stock TF Serving's build.
ENCODER_OPS = {"Einsum", "Softmax", "Sigmoid", "Tanh", "MatrixBandPart", "Any", "Sqrt", "Rsqrt",
               "SquaredDifference", "StopGradient", "Mean", "Relu", "BatchMatMulV2", "Range",
               "ZerosLike", "Ones", "Fill", "LogicalAnd", "SelectV2", "Select", "ReverseV2",
               "Unpack", "Pack", "Split", "SplitV", "StridedSlice", "Mul", "AddV2", "Sub", "Cast",
               "ExpandDims", "Tile", "Transpose", "Reshape", "Shape", "BiasAdd", "Squeeze",
               "Maximum", "GatherV2", "ResourceGather", "Identity", "Equal", "All", "Prod",
               "RandomUniform"}  # dropout: in the training branch of the saved functions


def _ops(path: str) -> set[str]:
    graph = loader_impl.parse_saved_model(path).meta_graphs[0].graph_def
    ops = {n.op for n in graph.node}
    for f in graph.library.function:
        ops |= {n.op for n in f.node_def}
    return ops


@pytest.fixture(scope="module")
def transformed(tmp_path_factory):
    data, _, out = tiny_transform()
    d = tmp_path_factory.mktemp("encoders")
    return out, write_gz(data[:5], str(d / "train.gz")), write_gz(data[5:], str(d / "eval.gz")), d


_EXPORTS: dict = {}


def _export(transformed, encoder: str):
    """(SavedModel path, the in-memory index's top-K before saving, the queries) of an untrained
    two-tower model with ``encoder`` (random weights are as good as trained ones to compare)."""
    if encoder in _EXPORTS:
        return _EXPORTS[encoder]
    out, train, eval_, d = transformed
    config = dataclasses.replace(TINY, sequence_encoder=encoder, uniform_negatives=0)
    tf.keras.utils.set_random_seed(0)
    ids, catalog, attributes = build_catalog([train, eval_], out, CONFIG,
                                             transformed_keys(CONFIG, CANDIDATE_SIDES))
    model = TwoTowerModel(CONFIG, CONFIG.vocabulary_sizes(out), config)
    index = retrieval_export.RetrievalIndex(model.query_tower, out.transform_features_layer(), ids,
                                            model.candidate_tower(catalog).numpy(), config.top_k,
                                            attributes)
    query_names = tuple(f.name for f in CONFIG.side_features(*QUERY_SIDES))
    queries = tf.constant([to_example(dict(user_id=r["user_id"], history=r["history"])) for r in ROWS])
    parsed = tf.io.parse_example(queries, retrieval_export.query_spec(out, CONFIG, query_names))
    before = index.top_k(index.query(out.transform_features_layer()(parsed)))
    path = str(d / f"{encoder}_index")
    retrieval_export.save(index, out, CONFIG, query_names, path,
                          warmup_rows=raw_rows([eval_], out, CONFIG))
    _EXPORTS[encoder] = path, before, queries
    return _EXPORTS[encoder]


@pytest.mark.parametrize("encoder", ENCODERS)
def test_save_load_gives_the_same_top_k_through_the_same_signatures(transformed, encoder):
    path, before, queries = _export(transformed, encoder)
    loaded = tf.saved_model.load(path)
    after = loaded.signatures["serving_default"](examples=queries)
    np.testing.assert_array_equal(after["item_ids"].numpy(), before["item_ids"].numpy())
    np.testing.assert_allclose(after["scores"].numpy(), before["scores"].numpy(), rtol=1e-5, atol=1e-6)
    # The history reaches the encoder: the same items in another order move the query, except
    # for the mean, which ignores order.
    emb = loaded.signatures["query_embedding"]
    one = emb(examples=tf.constant([to_example(dict(user_id="u1", history=["a", "b"]))]))["embedding"]
    other = emb(examples=tf.constant([to_example(dict(user_id="u1", history=["b", "a"]))]))["embedding"]
    if encoder == "mean":
        np.testing.assert_allclose(one.numpy(), other.numpy(), rtol=1e-5, atol=1e-6)
    else:
        assert np.abs(one.numpy() - other.numpy()).max() > 1e-4
    ops = _ops(path)
    assert not {op for op in ops if op.startswith("Cudnn") or op in ("While", "StatelessWhile")}
    added = ops - _ops(_export(transformed, "mean")[0])
    assert added <= ENCODER_OPS, f"ops beyond the known stock ones: {sorted(added - ENCODER_OPS)}"


@pytest.mark.e2e  # ~25 s idle: two epochs, then the export and its warmup
def test_trains_and_exports_with_an_ordered_encoder(transformed):
    out, train, eval_, d = transformed
    path = str(d / "sasrec_trained")
    # With the all-positions loss: it runs inside fit's traced step (OOV dropout on, in-batch
    # targets of a dynamic count) and must leave the export's signatures as they are.
    config = dataclasses.replace(TINY, sequence_encoder="sasrec",
                                 sasrec=dataclasses.replace(TINY.sasrec, all_positions_weight=1.0))
    result = train_and_export(train_files=[train], eval_files=[eval_],
                              transform_output=out._transform_output_dir, serving_model_dir=path,
                              features=CONFIG, config=config)
    assert result["catalog_size"] == 3 and np.isfinite(result["train_loss"][-1])
    served = tf.saved_model.load(path).signatures["serving_exclude"](
        examples=tf.constant([to_example(dict(user_id="u2", history=["a", "b"]))]),
        exclude=tf.constant([["a"]]))
    assert sorted(i.decode() for i in served["item_ids"].numpy()[0]) == ["", "b", "c"]
