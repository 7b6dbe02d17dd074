"""Settings the e2e tests' pipeline runs share."""

# The Beam stages in the runner's own process. Worker processes (the default) cost every Beam
# stage of every run their start-up, TensorFlow's import included: much of a stage's time on the
# tests' tiny data. What a test checks does not depend on where Beam runs its bundles, and
# the pipeline e2e keeps the worker processes.
IN_PROCESS_BEAM = ["pipeline.beam_running_mode=in_memory", "pipeline.beam_workers=1"]
