"""Settings the e2e tests' pipeline runs share."""

# The Beam stages in the runner's own process. Worker processes (the default) cost every Beam
# stage of every run their start-up, TensorFlow's import included: much of a stage's time on the
# tests' tiny data. What a test checks does not depend on where Beam runs its bundles, and
# the pipeline e2e (SYNTHETIC_E2E) keeps the worker processes.
IN_PROCESS_BEAM = ["pipeline.beam_running_mode=in_memory", "pipeline.beam_workers=1"]

# The e2e tests that only read one full pipeline run on tiny synthetic data (ranker + retriever)
# share it: tests/pipeline/test_pipeline_e2e.py and tests/serving/test_serving_e2e.py ran this
# very config twice (2-3 minutes each on 2 cores). The run's root is shared, so the tests that run
# the pipeline again on it (``shared_run(order=N)``, N > 0) go after the ones that read its first
# state, whatever order the files were given in.
SYNTHETIC_E2E = ["data.num_events=20000", "data.num_users=500", "data.num_items=300",
                 "train.epochs=2", "pipeline.beam_running_mode=multi_processing",
                 "retrieval.epochs=3",
                 # The retriever gate's lift over popularity is not what these tests are about.
                 "retrieval_eval.min_lift_over_popularity=-1"]


def synthetic_e2e_config(out: str, *extra: str):
    from recsys.config import load_config

    return load_config(None, [f"pipeline.output_dir={out}", *SYNTHETIC_E2E, *extra])


