"""``recsys`` command line: ``run`` (the pipeline), ``prepare`` (data only), ``summary``, ``score``,
``report`` (the evaluation as a terminal table and a self-contained HTML file), ``serve`` (the
pushed models over TF Serving's REST API, and the /v1/recommend service).

Every subcommand takes ``--config FILE`` (default ``configs/default.toml``) and any number of
``--set section.key=value`` overrides; no flag is required.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings

from recsys.config import REPO_ROOT, load_config

DEFAULT_CONFIG = os.path.join(REPO_ROOT, "configs", "default.toml")


def _config(args):
    return load_config(args.config, args.set)


def cmd_run(args) -> int:
    from pipeline.local_runner import main

    report = main(_config(args))
    status = 0
    if not report.get("blessed"):
        print("the ranker was NOT blessed (see metrics above); it was not pushed", file=sys.stderr)
        status = 1
    retrieval = report.get("retrieval")
    if retrieval is not None and not retrieval["blessed"]:
        print("the retriever was NOT blessed: " + "; ".join(retrieval["failures"])
              + "; it was not pushed", file=sys.stderr)
        status = 1
    return status


def cmd_prepare(args) -> int:
    from data.prepare import MANIFEST, prepare_data

    root = prepare_data(_config(args), force=args.force)
    print(root)
    with open(os.path.join(root, MANIFEST)) as fh:
        print(fh.read())
    return 0


def cmd_summary(args) -> int:
    from pipeline.local_runner import RunPaths, summarize

    print(json.dumps(summarize(RunPaths.from_config(_config(args))), indent=2))
    return 0


def cmd_score(args) -> int:
    """Scores examples of the prepared data with the newest complete pushed ranker version
    (serving_default); half-written or tampered versions (``serving/versions.py``) are skipped."""
    import tensorflow as tf

    from data.prepare import data_root_for
    from pipeline.local_runner import RunPaths
    from serving.versions import latest_complete_version

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
    from pipeline import eval_result, report
    from pipeline.local_runner import RunPaths

    config = _config(args)
    metadata = RunPaths.from_config(config).metadata_path
    uri = args.eval_dir or eval_result.latest_evaluation_uri(metadata)
    evaluation = eval_result.load(uri)
    retrieval_path = args.retrieval or (None if args.eval_dir else
                                        eval_result.find_retrieval_metrics(metadata))
    retrieval = eval_result.load_retrieval(retrieval_path) if retrieval_path else None
    out = args.out or os.path.join(config.pipeline.output_dir, "evaluation_report.html")
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w") as fh:
        fh.write(report.render_html(evaluation, retrieval))
    print(f"evaluation: {uri}")
    print(report.terminal_table(evaluation))
    print(report.verdict_text(evaluation))
    print("retrieval:", retrieval_path or "no retrieval model evaluated")
    print(f"wrote {os.path.abspath(out)}")
    return 0


def cmd_serve(args) -> int:
    """Serves the pushed models over TF Serving's REST API, and /v1/recommend (serving/serve.py)."""
    from serving.serve import run_from_args

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
            from serving.serve import add_arguments

            add_arguments(p)
        if name == "report":
            p.add_argument("--eval-dir", default="", help="a TFMA output directory (default: the "
                           "newest ModelEvaluation in the run's MLMD store)")
            p.add_argument("--retrieval", default="", help="retrieval_metrics.json to include "
                           "(default: the newest one found in MLMD)")
            p.add_argument("--out", default="", help="HTML file (default: "
                           "<pipeline.output_dir>/evaluation_report.html)")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # google-cloud client libraries (pulled in by TFX) warn about Python 3.10 on every import.
    warnings.filterwarnings("ignore", category=FutureWarning)
    try:
        return args.fn(args)
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
