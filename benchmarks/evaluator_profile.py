"""Where the Evaluator's time goes (issue 14): re-runs only the pipeline's TFX Evaluator on a
finished run's artifacts, once per variant, each in a fresh process, and times it.

  python -m benchmarks.evaluator_profile --run /tmp/evalprof-run/pipeline-synthetic-default \\
      [--variants pipeline,in_memory,overall_only,...] [--profile in_memory] [--set key=value]

``--run``: a run's output directory (``pipeline.output_dir``; ``benchmarks.scale pipeline`` makes
one). The run's MLMD gives the ImportExampleGen examples (eval split) and the Trainer's model; the
EvalConfig is built now by ``evaluation/eval_config.py`` from the config (``--set`` overrides, as
for ``recsys run``), and the Beam flags are the pipeline's (``beam_args.beam_pipeline_args`` with
``local=True``, then ``evaluator_args``). TFX's own Evaluator executor runs them, so the reading
(TFXIO), the model loading and the blessing are the pipeline's. Each variant changes one thing
(``VARIANTS``): the difference to ``pipeline`` is that part's share.

Per variant: wall seconds of the whole process and of the executor's ``Do`` alone, CPU seconds
(user + system of the process and its waited-for descendants: Beam's worker processes), and the
overall slice's metrics, so a variant that claims to change nothing can be checked.
``--profile VARIANT`` also writes cProfile's top functions of that variant (use an in-memory
one: cProfile does not follow Beam's worker processes). The machine is shared: compare variants
of one invocation, and read CPU seconds before wall seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # Keras 2, before TensorFlow is imported

ONE_PROCESS = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]


def _drop_metrics(cfg, names: set[str]):
    for spec in cfg.metrics_specs:
        kept = [m for m in spec.metrics if m.class_name not in names]
        del spec.metrics[:]
        spec.metrics.extend(kept)


def _set_config(cfg, class_names: set[str], config: dict):
    for spec in cfg.metrics_specs:
        for m in spec.metrics:
            if m.class_name in class_names:
                m.config = json.dumps(config)


def _only_overall(cfg):
    del cfg.slicing_specs[:]
    cfg.slicing_specs.add()


def _no_per_user(cfg):
    kept = [s for s in cfg.metrics_specs if not s.query_key]
    del cfg.metrics_specs[:]
    cfg.metrics_specs.extend(kept)


def _count_only(cfg):
    _no_per_user(cfg)
    for spec in cfg.metrics_specs:
        kept = [m for m in spec.metrics if m.class_name == "ExampleCount"]
        del spec.metrics[:]
        spec.metrics.extend(kept)


def _no_preprocessing(cfg):
    for spec in cfg.model_specs:
        del spec.preprocessing_function_names[:]


def _native_cross_entropy(cfg):
    """TFMA's own numpy ``BinaryCrossEntropy`` (same output name) for Keras' wrapped one."""
    for spec in cfg.metrics_specs:
        for m in spec.metrics:
            if m.class_name == "BinaryCrossentropy":
                m.class_name = "BinaryCrossEntropy"


# name -> (EvalConfig edit, extra Beam flags, evaluate the model as its own baseline too)
VARIANTS = {
    "pipeline": (None, [], False),
    "in_memory": (None, ONE_PROCESS, False),
    "with_baseline": (None, [], True),  # every run after the first: candidate + baseline
    "overall_only": (_only_overall, [], False),
    "no_per_user": (_no_per_user, [], False),
    "no_calibration_plot": (lambda c: _drop_metrics(c, {"CalibrationPlot"}), [], False),
    "no_auc_pr": (lambda c: _drop_metrics(c, {"AUCPrecisionRecall"}), [], False),
    "no_auc_family": (lambda c: _drop_metrics(c, {"AUC", "AUCPrecisionRecall"}), [], False),
    "auc_1k_thresholds": (lambda c: _set_config(c, {"AUC", "AUCPrecisionRecall"},
                                                {"num_thresholds": 1000}), [], False),
    "native_cross_entropy": (_native_cross_entropy, [], False),
    "no_preprocessing": (_no_preprocessing, [], False),
    "count_only": (_count_only, [], False),
    "count_only_overall": (lambda c: (_count_only(c), _only_overall(c)), [], False),
}


def _artifact(store, node: str, type_name: str):
    """``node``'s newest ``type_name`` output as a TFX artifact (its properties kept)."""
    from tfx.types import artifact_utils

    from recsys.evaluation.metadata import latest_output

    found = latest_output(store, node, type_name)
    if found is None:
        raise FileNotFoundError(f"no {type_name} output of {node} in the run's MLMD")
    [kind] = store.get_artifact_types_by_id([found.type_id])
    return artifact_utils.deserialize_artifact(kind, found)


def _config(run: str, overrides: list[str]):
    from recsys.config import DEFAULT_CONFIG_PATH, load_config

    return load_config(DEFAULT_CONFIG_PATH, [f"pipeline.output_dir={run}"] + overrides)


def evaluator_inputs(run: str, overrides: list[str]) -> dict:
    """The pipeline Evaluator's EvalConfig (JSON), Beam flags and input artifacts for ``run``."""
    from google.protobuf import json_format

    from recsys.data.prepare import data_root_for
    from recsys.evaluation.eval_config import eval_config
    from recsys.evaluation.metadata import open_store
    from recsys.features import FeatureConfig
    from recsys.pipeline.beam_args import beam_pipeline_args, evaluator_args
    from recsys.pipeline.local_runner import RunPaths, prepared_rows

    config = _config(run, overrides)
    features = FeatureConfig.load(config.features_path)
    cfg = eval_config(features, config.eval, config.train.label_mode, config.train.multitask.mode)
    beam = (beam_pipeline_args(config.pipeline.beam, prepared_rows(data_root_for(config)), local=True)
            + evaluator_args(config.pipeline.beam, config.eval.confidence_intervals != "off"))
    store = open_store(RunPaths.from_config(config).metadata_path)
    return {"eval_config": json_format.MessageToJson(cfg), "beam_args": beam,
            "examples": _artifact(store, "ImportExampleGen", "Examples"),
            "model": _artifact(store, "Trainer", "Model")}


def run_variant(run: str, variant: str, overrides: list[str], out_dir: str,
                profile_path: str = "") -> dict:
    """TFX's Evaluator executor on ``run``'s artifacts with ``variant`` applied (in this process)."""
    import cProfile
    import pstats

    import tensorflow_model_analysis as tfma
    from google.protobuf import json_format
    from tfx.components.evaluator.executor import Executor
    from tfx.types import standard_artifacts

    edit, flags, with_baseline = VARIANTS[variant]
    got = evaluator_inputs(run, overrides)
    cfg = json_format.Parse(got["eval_config"], tfma.EvalConfig())
    if edit:
        edit(cfg)
    evaluation, blessing = standard_artifacts.ModelEvaluation(), standard_artifacts.ModelBlessing()
    evaluation.uri, blessing.uri = os.path.join(out_dir, "evaluation"), os.path.join(out_dir, "blessing")
    for a in (evaluation, blessing):
        os.makedirs(a.uri, exist_ok=True)
    inputs = {"examples": [got["examples"]], "model": [got["model"]]}
    if with_baseline:
        inputs["baseline_model"] = [got["model"]]
    beam_args = got["beam_args"] + flags
    executor = Executor(Executor.Context(beam_pipeline_args=beam_args, tmp_dir=out_dir,
                                         unique_id=variant))
    props = {"eval_config": json_format.MessageToJson(cfg), "example_splits": "null"}
    profiler = cProfile.Profile() if profile_path else None
    start, cpu0 = time.perf_counter(), _cpu()
    if profiler:
        profiler.enable()
    executor.Do(inputs, {"evaluation": [evaluation], "blessing": [blessing]}, props)
    if profiler:
        profiler.disable()
        profiler.dump_stats(profile_path.removesuffix(".txt") + ".pstats")  # for pstats' callers
        with open(profile_path, "w") as fh:
            stats = pstats.Stats(profiler, stream=fh)
            stats.sort_stats("tottime").print_stats(40)
            stats.sort_stats("cumulative").print_stats(60)
    seconds, cpu = time.perf_counter() - start, _cpu() - cpu0
    blessed = os.path.exists(os.path.join(blessing.uri, "BLESSED"))
    result = candidate_result(evaluation.uri)
    return {"do_seconds": round(seconds, 1), "do_cpu_seconds": round(cpu, 1), "blessed": blessed,
            "beam_args": beam_args, "overall": overall_metrics(result),
            "slices": len(result.slicing_metrics)}


def _cpu() -> float:
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def candidate_result(output_path: str):
    """TFMA's result of the candidate (named so only when a baseline was evaluated too)."""
    import tensorflow_model_analysis as tfma

    with open(os.path.join(output_path, "eval_config.json")) as fh:
        with_baseline = "is_baseline" in fh.read()
    return tfma.load_eval_result(output_path, model_name="candidate" if with_baseline else None)


def overall_metrics(result) -> dict:
    """The overall slice's metrics: {output/metric: value}."""
    [metrics] = [m for key, m in result.slicing_metrics if key == ()]
    out = {}
    for output, by_sub in metrics.items():
        for sub, values in by_sub.items():
            for name, value in values.items():
                if "doubleValue" in value:
                    out["/".join(x for x in (output, sub, name) if x)] = value["doubleValue"]
    return dict(sorted(out.items()))


def measure(run: str, variant: str, overrides: list[str], work: str, profile: bool) -> dict:
    """``variant`` in a fresh process: wall and CPU seconds of that process and its children."""
    out = os.path.join(work, variant)
    cmd = [sys.executable, "-m", "benchmarks.evaluator_profile", "--run", run, "--one", variant,
           "--work", out, *[f"--set={s}" for s in overrides]]
    if profile:
        cmd.append("--profile-out=" + os.path.join(work, f"{variant}.prof.txt"))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load = os.getloadavg()[0]
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    if done.returncode:
        return {"failed": done.stderr.strip().splitlines()[-5:]}
    entry = json.loads(done.stdout.strip().splitlines()[-1])
    return {"process_seconds": round(wall, 1), "process_cpu_seconds": round(cpu, 1), **entry,
            "load_before": round(load, 2), "load_after": round(os.getloadavg()[0], 2)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", required=True, help="a run's pipeline.output_dir")
    ap.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated VARIANTS names")
    ap.add_argument("--set", action="append", default=[], help="config override section.key=value")
    ap.add_argument("--profile", default="", help="comma-separated variants to run under cProfile")
    ap.add_argument("--work", default="", help="where the evaluations go (default: a temp dir)")
    ap.add_argument("--output", default="", help="also write the results to this JSON file")
    ap.add_argument("--one", default="", help=argparse.SUPPRESS)  # the child process's variant
    ap.add_argument("--profile-out", default="", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(run_variant(args.run, args.one, args.set, args.work, args.profile_out)))
        return
    work = args.work or tempfile.mkdtemp(prefix="evaluator-profile-")
    profiled = set(filter(None, args.profile.split(",")))
    results = {}
    for variant in args.variants.split(","):
        results[variant] = measure(args.run, variant, args.set, work, variant in profiled)
        print(json.dumps({variant: results[variant]}), flush=True)
    from benchmarks.machine import stamp

    report = {"variants": results, "work": work, **stamp()}
    if args.output:
        with open(args.output, "w") as fh:
            json.dump(report, fh, indent=2, sort_keys=True)
    print(json.dumps({k: {m: v.get(m) for m in ("process_seconds", "process_cpu_seconds",
                                                "do_seconds", "blessed", "slices")}
                      for k, v in results.items()}, indent=1))


if __name__ == "__main__":
    main()
