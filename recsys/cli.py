"""``recsys`` command line: ``run`` (the pipeline), ``prepare`` (data only), ``summary``, ``score``,
``report`` (the evaluation as a terminal table and a self-contained HTML file), ``serve`` (the
pushed models over TF Serving's REST API, and the /v1/recommend service).

Every subcommand takes ``--config FILE`` (default ``configs/default.toml``) and any number of
``--set section.key=value`` overrides; no flag is required.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
import traceback

from recsys.config import DEFAULT_CONFIG_PATH as DEFAULT_CONFIG
from recsys import jsonio, library_noise
from recsys.config import check_run_inputs, load_config


def _config(args):
    return load_config(args.config, args.set)


@contextlib.contextmanager
def library_output_to(log_path: str):
    """Sends everything the libraries write (TensorFlow's C++ logs, absl, Beam and its worker
    processes, Keras, warnings, interpreter-exit noise) to ``log_path``: file descriptors 1 and 2
    point there from now on, for the rest of the process. Yields (terminal stdout, terminal stderr)
    for what the user should see."""
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    term_out = os.fdopen(os.dup(1), "w", buffering=1)
    term_err = os.fdopen(os.dup(2), "w", buffering=1)
    log = open(log_path, "a", buffering=1)
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    # At interpreter exit TensorFlow's function objects are collected after the modules they need
    # are gone, and each says so ("Exception ignored in: AtomicFunction.__del__"); not an error.
    default_hook = sys.unraisablehook

    def unraisable(info):
        if "AtomicFunction.__del__" not in repr(info.object):
            default_hook(info)

    sys.unraisablehook = unraisable
    yield term_out, term_err


def cmd_run(args) -> int:
    """Runs the pipeline: one line per component on the terminal (``recsys.progress``), the
    libraries' output in ``<output_dir>/logs/run-<time>.log``, the JSON report at the end."""
    from absl import logging as absl_logging

    from recsys import progress
    from recsys.pipeline.local_runner import run
    from recsys.pipeline.run_lock import PipelineRootBusy

    config = _config(args)
    check_run_inputs(config)  # on the terminal at once, before the libraries' output is redirected
    log_path = os.path.join(os.path.abspath(config.pipeline.output_dir), "logs",
                            time.strftime("run-%Y%m%d-%H%M%S.log"))
    with library_output_to(log_path) as (out, err):
        progress.set_sink(err)
        progress.line(f"recsys run: TensorFlow/TFX/Beam output goes to {log_path}")
        absl_logging.set_verbosity(absl_logging.INFO)  # TFX's component start/end (into the log)
        try:
            report = run(config)
        except PipelineRootBusy as e:  # refused before any work: nothing to see in the log
            err.write(f"error: {e}\n")
            return 3
        except (ValueError, FileNotFoundError) as e:
            traceback.print_exc()  # the log keeps the whole story
            err.write(f"error: {e}\n(details: {log_path})\n")
            return 2
        except BaseException:
            traceback.print_exc()
            err.write(f"the run failed; see {log_path}\n")
            raise
        finally:
            progress.set_sink(None)
        out.write(jsonio.dumps(report, indent=2) + "\n")  # an undefined metric is null, not NaN
        status = 0
        if not report.get("blessed"):
            err.write("the ranker was NOT blessed (see metrics above); it was not pushed\n")
            status = 1
        retrieval = report.get("retrieval")
        if retrieval is not None and not retrieval["blessed"]:
            err.write("the retriever was NOT blessed: " + "; ".join(retrieval["failures"])
                      + "; it was not pushed\n")
            status = 1
        err.write(f"done in {report.get('wall_seconds', 0):.0f} s; library output: {log_path}\n")
        out.flush()
        err.flush()
    return status


def cmd_prepare(args) -> int:
    from recsys.config import check_run_inputs
    from recsys.data.prepare import MANIFEST, prepare_data

    config = _config(args)
    root = prepare_data(config, force=args.force, features=check_run_inputs(config))
    print(root)
    with open(os.path.join(root, MANIFEST)) as fh:
        print(fh.read())
    return 0


def cmd_summary(args) -> int:
    from recsys.pipeline.local_runner import RunPaths, summarize

    print(jsonio.dumps(summarize(RunPaths.from_config(_config(args))), indent=2))
    return 0


def cmd_score(args) -> int:
    """Scores examples of the prepared data with the newest complete pushed ranker version
    (serving_default); half-written or tampered versions (``serving/versions.py``) are skipped."""
    import tensorflow as tf

    from recsys.data.prepare import data_root_for
    from recsys.pipeline.local_runner import RunPaths
    from recsys.serving.versions import latest_complete_version

    config = _config(args)
    serving = RunPaths.from_config(config).serving_dir  # <serving_dir>/<pipeline.model_name>
    version = latest_complete_version(serving)
    if version is None:
        print(f"no complete pushed model under {serving}; run `recsys run` first", file=sys.stderr)
        return 1
    print(f"model: {os.path.join(serving, str(version))}", file=sys.stderr)
    model = tf.saved_model.load(os.path.join(serving, str(version)))
    files = tf.io.gfile.glob(os.path.join(data_root_for(config), "*", "*.tfrecord.gz"))
    batch = next(iter(tf.data.TFRecordDataset(files, compression_type="GZIP").batch(args.n)))
    out = model.signatures["serving_default"](examples=batch)
    for i, ex in enumerate(batch.numpy()):
        f = tf.train.Example.FromString(ex).features.feature
        ids = {k: f[k].bytes_list.value[0].decode() for k in ("user_id", "item_id") if k in f}
        print(json.dumps({**ids, **{k: round(float(v[i]), 4) for k, v in out.items()}}))
    return 0


def cmd_report(args) -> int:
    """Prints the per-slice table and writes the HTML report of the latest (or given) evaluation."""
    from recsys.evaluation import eval_result, report
    from recsys.evaluation.history import blessed_history
    from recsys.pipeline.local_runner import RunPaths

    config = _config(args)
    metadata = RunPaths.from_config(config).metadata_path
    uri = args.eval_dir or eval_result.latest_evaluation_uri(metadata)
    evaluation = eval_result.load(uri)
    retrieval_path = args.retrieval or (None if args.eval_dir else
                                        eval_result.find_retrieval_metrics(metadata))
    retrieval = eval_result.load_retrieval(retrieval_path) if retrieval_path else None
    out = args.out or os.path.join(config.pipeline.output_dir, "evaluation_report.html")
    history = None if args.eval_dir else blessed_history(metadata)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w") as fh:
        fh.write(report.render_html(evaluation, retrieval, history=history))
    print(f"evaluation: {uri}")
    print(report.verdict_text(evaluation))
    print(report.headline_text(evaluation))
    print("\n".join(report.callout_lines(evaluation)))
    print(report.terminal_table(evaluation))
    print("retrieval:", retrieval_path or "no retrieval model evaluated")
    print(f"wrote {os.path.abspath(out)}")
    return 0


def cmd_serve(args) -> int:
    """Serves the pushed models over TF Serving's REST API, and /v1/recommend (serving/serve.py)."""
    from recsys.serving.serve import run_from_args

    return run_from_args(args, _config(args))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="recsys", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, fn, help_ in [("run", cmd_run, "prepare data and run the TFX pipeline"),
                            ("prepare", cmd_prepare, "write the input tf.Examples only"),
                            ("summary", cmd_summary, "what the last run did (from MLMD)"),
                            ("score", cmd_score, "score a few examples with the pushed model"),
                            ("report", cmd_report, "per-slice metrics table + offline HTML report"),
                            ("serve", cmd_serve, "serve the pushed models (TF Serving REST API) "
                                                 "and /v1/recommend")]:
        p = sub.add_parser(name, help=help_)
        p.add_argument("--config", default=DEFAULT_CONFIG, help="TOML run config")
        p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                       help="override a config value (repeatable)")
        p.set_defaults(fn=fn)
        if name == "prepare":
            p.add_argument("--force", action="store_true", help="rewrite even if present")
        if name == "score":
            p.add_argument("-n", type=int, default=5, help="how many examples")
        if name == "serve":
            from recsys.serving.serve import add_arguments

            add_arguments(p)
        if name == "report":
            p.add_argument("--eval-dir", default="", help="a TFMA output directory (default: the "
                           "newest ModelEvaluation in the run's MLMD store)")
            p.add_argument("--retrieval", default="", help="retrieval_metrics.json to include "
                           "(default: the newest one found in MLMD)")
            p.add_argument("--out", default="", help="HTML file (default: "
                           "<pipeline.output_dir>/evaluation_report.html)")
    args = parser.parse_args(argv)
    # The process starts here, before any subcommand imports TensorFlow.
    library_noise.quiet()
    try:
        return args.fn(args)
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
