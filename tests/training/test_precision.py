"""The GPU options' CPU fallbacks: ``train.mixed_precision`` trains in float32 without a GPU (and
says why), and ``train.jit_compile`` trains with XLA on a CPU but exports a model stock TF
Serving loads (no XLA-compiled function in its graph)."""

import logging

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

from recsys.config import TrainConfig
from recsys.models.export import PREDICTION_KEYS
from recsys.training.precision import configure_precision
from recsys.training.ranker import train_and_export
from tests.tiny import CONFIG, ROWS, tiny_transform, to_example, write_gz


def xla_parts(export_dir: str) -> list[str]:
    """The XLA-only parts of a SavedModel's graph: XLA ops, and functions marked for XLA
    compilation (``jit_compile=True``), which need a TF Serving built with XLA."""
    saved = saved_model_pb2.SavedModel()
    with open(f"{export_dir}/saved_model.pb", "rb") as fh:
        saved.ParseFromString(fh.read())
    found = []
    for meta in saved.meta_graphs:
        nodes = list(meta.graph_def.node)
        for function in meta.graph_def.library.function:
            if function.attr["_XlaMustCompile"].b:
                found.append(f"function {function.signature.name} (_XlaMustCompile)")
            nodes += list(function.node_def)
        found += [f"op {n.op} ({n.name})" for n in nodes if "Xla" in n.op]
    return found


@pytest.mark.parametrize("gpus, expected", [(0, "float32"), (1, "mixed_float16")])
def test_mixed_precision_is_float16_on_a_gpu_and_float32_with_a_reason_without(gpus, expected, caplog):
    try:
        with caplog.at_level(logging.WARNING):
            assert configure_precision(TrainConfig(mixed_precision=True), gpus=gpus) == expected
        assert tf.keras.mixed_precision.global_policy().name == expected
        said = [r.getMessage() for r in caplog.records if "mixed_precision" in r.getMessage()]
        assert bool(said) == (gpus == 0)
        assert not said or "sees no GPU: training in float32" in said[0]
        assert configure_precision(TrainConfig(), gpus=gpus) == "float32"
    finally:
        tf.keras.mixed_precision.set_global_policy("float32")


def test_the_xla_check_finds_a_jit_compiled_function(tmp_path):
    """The check below can fail: a module with a jit_compile function is caught."""
    module = tf.Module()
    module.f = tf.function(lambda x: x * 2, jit_compile=True,
                           input_signature=[tf.TensorSpec([None], tf.float32)])
    tf.saved_model.save(module, str(tmp_path), signatures=module.f.get_concrete_function())
    assert any("_XlaMustCompile" in part for part in xla_parts(str(tmp_path)))


@pytest.mark.e2e  # a real train + export with XLA: ~15-20 s of CPU
def test_jit_compile_trains_on_cpu_and_exports_no_xla(tmp_path):
    data, _, out = tiny_transform()
    files = write_gz(data * 4, str(tmp_path / "train.gz"))
    export_dir = str(tmp_path / "model")
    result = train_and_export(
        train_files=[files], eval_files=[files], transform_output=out._transform_output_dir,
        serving_model_dir=export_dir, features=CONFIG,
        train=TrainConfig(epochs=2, batch_size=8, embedding_dim=4, deep_layers=(8,),
                          jit_compile=True, mixed_precision=True))  # no GPU: float32
    assert result["precision"] == "float32"
    assert np.isfinite(result["train_loss"]).all()
    assert xla_parts(export_dir) == []
    raw = [{k: v for k, v in r.items() if k not in CONFIG.label_keys} for r in ROWS]
    served = tf.saved_model.load(export_dir).signatures["serving_default"](
        examples=tf.constant([to_example(r) for r in raw]))[PREDICTION_KEYS["binary"]].numpy()
    assert served.shape == (len(ROWS),) and ((served > 0) & (served < 1)).all()
