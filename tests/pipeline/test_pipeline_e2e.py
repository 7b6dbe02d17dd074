"""The whole TFX pipeline on tiny synthetic data: runs, blesses, pushes, serves, and re-runs cached.

Marked ``e2e`` (minutes, not seconds); the README test command runs it with the quick suite.
"""

import os

import numpy as np
import pytest
import tensorflow as tf

from recsys.pipeline.local_runner import RunPaths, run, summarize
from recsys.config import load_config
from tests.synthetic_instances import RAW, USER

pytestmark = pytest.mark.e2e

RESOLVER = "latest_blessed_model_resolver"  # node ids, as MLMD records them
COMPONENTS = {"ImportExampleGen", "StatisticsGen", "ImportSchemaGen", "ExampleValidator",
              "AnomaliesGate", "Transform", "Trainer", RESOLVER, "Evaluator", "Pusher",
              "RetrievalTrainer", "RetrievalEvaluator", "RetrievalPusher", "DeploymentRecorder"}


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("e2e"))
    config = load_config(None, [f"pipeline.output_dir={out}", "data.num_events=20000",
                                "data.num_users=500", "data.num_items=300", "train.epochs=2",
                                "pipeline.beam_running_mode=multi_processing", "retrieval.epochs=3",
                                # The gate's lift over popularity is not what this test is about.
                                "retrieval_eval.min_lift_over_popularity=-1"])
    return config, run(config)


def test_every_component_executed_and_model_blessed(first_run):
    _, report = first_run
    assert set(report["components"]) == COMPONENTS
    assert all(state == "COMPLETE" for state in report["components"].values()), report["components"]
    assert report["blessed"] is True
    assert report["metrics"]["example_count"] > 2000
    assert report["metrics"]["auc"] > 0.6


def test_pushed_model_is_in_tf_serving_layout_and_scores_both_signatures(first_run):
    config, report = first_run
    serving = RunPaths.from_config(config).serving_dir
    assert len(report["pushed_versions"]) == 1
    version = report["pushed_versions"][0]
    assert version.isdigit()  # TF Serving loads <base>/<integer version>/saved_model.pb
    assert os.path.exists(os.path.join(serving, version, "saved_model.pb"))

    model = tf.saved_model.load(os.path.join(serving, version))
    feats = RAW
    ex = tf.train.Example()
    for k, v in feats.items():
        f = ex.features.feature[k]
        vals = v if isinstance(v, list) else [v]
        if isinstance(vals[0], str):
            f.bytes_list.value.extend(x.encode() for x in vals)
        elif isinstance(vals[0], float):
            f.float_list.value.extend(vals)
        else:
            f.int64_list.value.extend(vals)
    by_example = model.signatures["serving_default"](examples=tf.constant([ex.SerializeToString()]))
    raw_sig = model.signatures["serving_raw"]
    spec = raw_sig.structured_input_signature[1]  # the dtypes TF Serving casts JSON values to
    raw = {k: tf.constant([v], dtype=spec[k].dtype) for k, v in feats.items()}
    by_raw = raw_sig(**raw)
    p = float(by_example["probability"][0])
    assert 0.0 < p < 1.0
    np.testing.assert_allclose(p, float(by_raw["probability"][0]), rtol=1e-5)

    # An unseen user and item (OOV buckets) still get a score.
    cold = dict(raw, user_id=tf.constant(["never-seen"]), item_id=tf.constant(["new-item"]))
    assert 0.0 < float(model.signatures["serving_raw"](**cold)["probability"][0]) < 1.0


def test_retriever_is_gated_pushed_beside_the_ranker_and_serves_top_k(first_run):
    import tensorflow_model_analysis as tfma

    config, report = first_run
    retrieval = report["retrieval"]
    assert retrieval["blessed"] is True and retrieval["failures"] == []
    assert 0.0 < retrieval["metrics"]["recall@100"] <= 1.0
    assert retrieval["metrics"]["count"] == retrieval["popularity_baseline"]["count"] > 100
    # One run, one version, and the run's deployment record names the pair.
    assert retrieval["pushed_versions"] == report["pushed_versions"]
    assert report["deployment"]["models"] == {"ranker": report["pushed_versions"][0],
                                              "retriever": retrieval["pushed_versions"][0]}
    # TFMA's own loader reads the retrieval evaluation (overall + slices, baseline as a model).
    result = tfma.load_eval_result(retrieval["evaluation_uri"], model_name="candidate")
    overall = dict(result.slicing_metrics)[()]
    assert overall[""][""]["recall@100"]["doubleValue"] == pytest.approx(retrieval["metrics"]["recall@100"])
    # Sliced by the same count-slice features as the ranker's TFMA evaluation.
    assert {(("user_activity", v),) for v in ("heavy", "medium", "light")} <= set(dict(result.slicing_metrics))

    version = retrieval["pushed_versions"][0]
    model = tf.saved_model.load(os.path.join(retrieval["serving_dir"], version))
    ex = tf.train.Example()
    ex.features.feature["user_id"].bytes_list.value.append(b"never-seen")
    ex.features.feature["user_gender"].bytes_list.value.append(b"F")
    ex.features.feature["user_age"].int64_list.value.append(30)
    ex.features.feature["user_region"].bytes_list.value.append(b"r01")
    ex.features.feature["history"].bytes_list.value.extend([b"i00003"])
    ex.features.feature["timestamp"].int64_list.value.append(1700000000)  # the request's time
    popular = model.signatures["serving_default"](examples=tf.constant([ex.SerializeToString()]))
    top = [i.decode() for i in popular["item_ids"].numpy()[0]]
    assert len(top) == config.retrieval.top_k and len(set(top)) == len(top)
    out = model.signatures["serving_exclude"](examples=tf.constant([ex.SerializeToString()]),
                                              exclude=tf.constant([top[:5]]))
    assert not set(top[:5]) & {i.decode() for i in out["item_ids"].numpy()[0]}


def test_candidates_go_straight_to_the_rankers_serving_raw_and_both_models_warm_up(first_run):
    from recsys.serving.warmup import replay_warmup

    config, report = first_run
    version = report["pushed_versions"][0]
    ranker_dir = os.path.join(RunPaths.from_config(config).serving_dir, version)
    retriever_dir = os.path.join(report["retrieval"]["serving_dir"], version)
    ranker, retriever = tf.saved_model.load(ranker_dir), tf.saved_model.load(retriever_dir)
    assert replay_warmup(ranker, ranker_dir) == 3 and replay_warmup(retriever, retriever_dir) == 5

    user = {k: [v] for k, v in {"user_id": RAW["user_id"], **USER}.items()}
    find = retriever.signatures["serving_raw"]
    query = find.structured_input_signature[1]
    candidates = find(**{k: tf.constant(v, query[k].dtype) for k, v in user.items() if k in query},
                      exclude=tf.constant([["i00003", "i00007"]]))
    k = candidates["item_ids"].shape[1]
    # The retriever's outputs are the item half of the ranker's serving_raw, in its dtypes.
    score = ranker.signatures["serving_raw"]
    spec = score.structured_input_signature[1]
    inputs = {n: tf.repeat(tf.constant(v, spec[n].dtype), k, axis=0) for n, v in user.items()}
    inputs["item_id"] = candidates["item_ids"][0]
    inputs.update({n: candidates[n][0] for n in spec if n not in inputs})
    assert {n: t.dtype for n, t in inputs.items()} == {n: s.dtype for n, s in spec.items()}
    p = score(**inputs)["probability"].numpy()
    assert p.shape == (k,) and ((p > 0) & (p < 1)).all()


def test_deployment_record_names_both_pushed_versions(first_run):
    from recsys.serving.deployment import latest_deployment
    from recsys.serving.manifest import verify_manifest
    from recsys.serving.stack import config_for

    config, report = first_run
    paths = RunPaths.from_config(config)
    record = latest_deployment(paths.serving_root)
    version = int(report["pushed_versions"][0])
    assert record["id"] == version  # the file is deployments/<run version>.json
    assert record["models"] == {"ranker": {"version": version, "base_path": paths.serving_dir},
                                "retriever": {"version": version,
                                              "base_path": paths.retrieval_serving_dir}}
    manifest = verify_manifest(os.path.join(paths.serving_dir, str(version)))
    assert (manifest["model"], manifest["version"]) == ("ranker", version)
    assert not [n for n in os.listdir(paths.serving_dir) if not n.isdigit()]  # no staging left
    assert f"versions: {version}" in config_for(paths.serving_root)


def test_rerun_hits_the_cache(first_run):
    config, report = first_run
    upstream = COMPONENTS - {RESOLVER, "Evaluator", "Pusher", "DeploymentRecorder"}
    second = run(config)
    cached = {c for c, s in second["components"].items() if s == "CACHED"}
    # Data, statistics, schema, Transform and training are reused. The Evaluator runs once more
    # because the Resolver now finds a blessed baseline (the first run's model) it did not have;
    # the Pusher then finds that very model already served and publishes no copy, and the
    # DeploymentRecorder records the same pair again for this run.
    assert upstream <= cached, second["components"]
    assert second["pushed_versions"] == report["pushed_versions"]
    assert second["deployment"]["models"] == report["deployment"]["models"]
    third = run(config)
    assert set(third["components"].values()) <= {"CACHED", "COMPLETE"}
    # The DeploymentRecorder is never cached: every run records the pair it deploys.
    assert {c for c, s in third["components"].items() if s != "CACHED"} <= \
        {RESOLVER, "DeploymentRecorder"}, third["components"]
    assert third["deployment"]["models"] == report["deployment"]["models"]
    assert third["pushed_versions"] == second["pushed_versions"]
    assert summarize(RunPaths.from_config(config))["blessed"] is True
