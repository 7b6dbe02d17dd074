"""Bad-data benchmark: every kind of bad input a user can hand the pipeline, tried through the
entry points a run uses, and whether each was caught before any training with a message naming
the key / file and line / feature. Recorded under ``"bad_data"`` in
``benchmarks/results/reliability.json`` (other keys of that file belong to other benchmarks).

  .venv/bin/python -m benchmarks.bad_data                 # ~1 min, + ~2 min for the pipeline case
  .venv/bin/python -m benchmarks.bad_data --no-pipeline   # without the pipeline run

Cases (data: made-up sets in each MovieLens layout, ``data/movielens_fixture.py``, and the
synthetic generator; never real MovieLens files):

* ``config``: bad values, unknown keys, missing paths -> ``load_config`` / ``check_run_inputs``;
* ``reader``: empty, cut-short, re-encoded, column-less, duplicated, out-of-range rows per layout,
  and a feature config for another layout -> ``prepare_data``, as ``recsys run`` calls it; each
  row-level one again with ``data.skip_bad_rows=true``, where the rows must be dropped and counted;
* ``drift``: category explosion, a missing feature and millisecond timestamps for each reader ->
  what ExampleValidator reports against the curated schema (``anomalies_in``), and the clean data
  of each reader must raise nothing (``false_alarms``);
* ``report``: a NaN metric must come out as valid JSON;
* ``pipeline``: one drifted data set through ``recsys run``'s runner: it must stop at the
  AnomaliesGate, with no Transform, no training and nothing pushed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import traceback

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # Keras 2, before TensorFlow is imported
from benchmarks.machine import record, stamp  # noqa: E402
from recsys import jsonio  # noqa: E402
from recsys.config import REPO_ROOT, check_run_inputs, load_config, schema_path  # noqa: E402
from recsys.data import movielens_fixture  # noqa: E402
from recsys.data.canonical import read_tfrecords, to_tf_example  # noqa: E402
from recsys.data.movielens import LAYOUT_FILES  # noqa: E402
from recsys.data.prepare import prepare_data, prepared_manifest  # noqa: E402
from recsys.features import FeatureConfig  # noqa: E402

RESULTS = os.path.join(REPO_ROOT, "benchmarks", "results", "reliability.json")
LAYOUTS = tuple(LAYOUT_FILES)
LATEST_FEATURES = os.path.join(REPO_ROOT, "configs", "features", "movielens_latest.toml")
SEP = {"ml-100k": "\t", "ml-1m": "::", "ml-latest": ","}
SMALL = dict(num_users=40, num_movies=60, ratings_per_user=(5, 25))


def _ratings_file(layout):
    return LAYOUT_FILES[layout][0]


def _edit(path, fn, encoding="latin-1"):
    with open(path, encoding=encoding, newline="") as fh:
        text = fh.read()
    with open(path, "w", encoding=encoding, newline="") as fh:
        fh.write(fn(text))


def _movielens_config(out, source, layout, *extra):
    features = [f"data.features={LATEST_FEATURES}"] if layout == "ml-latest" else []
    return load_config(None, [f"pipeline.output_dir={out}", "data.dataset=movielens",
                              f"data.source={source}", "data.num_shards=1", *features, *extra])


# ----------------------------------------------------------------------------------------- cases
def config_cases():
    """(name, overrides, strings the error must hold), through load_config + check_run_inputs."""
    return [
        ("train.epochs=-1", ["train.epochs=-1"], ["train.epochs: '-1'; expected an integer >= 1"]),
        ("train.model=xgboost", ["train.model=xgboost"], ["train.model: 'xgboost'; expected one of"]),
        ("data.eval_fraction=1.5", ["data.eval_fraction=1.5"], ["data.eval_fraction: '1.5'"]),
        ("retrieval.top_k=0", ["retrieval.top_k=0"], ["retrieval.top_k: '0'"]),
        ("train.learning_rate=nan", ["train.learning_rate=nan"], ["train.learning_rate: 'nan'"]),
        ("unknown key", ["train.epoch=5"], ["unknown key 'epoch'"]),
        ("three bad keys at once", ["train.epochs=0", "train.model=gbdt", "serving.port=99999"],
         ["3 problems", "train.epochs", "train.model", "serving.port"]),
        ("data.source missing", ["data.dataset=movielens", "data.source=/nonexistent/ml-100k"],
         ["data.source: '/nonexistent/ml-100k'; expected an existing directory"]),
        ("data.features missing", ["data.features=/nonexistent.toml"],
         ["data.features: '/nonexistent.toml'; expected an existing feature config"]),
    ]


def reader_cases():
    """(name, layouts, edit(source, layout), strings the error must hold (``{ratings}``: the
    layout's ratings file, ``{movies}``: its movies file), row-level: skippable)."""
    def empty(source, layout):
        header = "userId,movieId,rating,timestamp\n" if layout == "ml-latest" else ""
        _edit(os.path.join(source, _ratings_file(layout)), lambda _: header)

    def cut_timestamp(source, layout):  # the last line cut inside its timestamp
        _edit(os.path.join(source, _ratings_file(layout)), lambda t: t[:-7])

    def drop_column(source, layout):
        sep = SEP[layout]
        _edit(os.path.join(source, _ratings_file(layout)),
              lambda t: "".join(line.rsplit(sep, 1)[0] + "\n" for line in t.splitlines()))

    def duplicate(source, layout):
        _edit(os.path.join(source, _ratings_file(layout)),
              lambda t: t + t.splitlines()[-1].rsplit(SEP[layout], 1)[0] + SEP[layout] + "1600000000\n")

    def bad_rating(source, layout):
        sep = SEP[layout]

        def fix(t):
            lines = t.splitlines()
            u, m, _, ts = lines[-1].split(sep)
            return "\n".join(lines[:-1] + [sep.join([u, m, "9", ts])]) + "\n"

        _edit(os.path.join(source, _ratings_file(layout)), fix)

    def latin1_title(source, layout):  # movies.csv re-saved by an editor set to latin-1
        path = os.path.join(source, "movies.csv")
        with open(path, "rb") as fh:
            data = fh.read()
        with open(path, "wb") as fh:
            fh.write(data.replace("é".encode(), b"\xe9", 1))

    def latin1_rating(source, layout):
        path = os.path.join(source, "ratings.csv")
        with open(path, "rb") as fh:
            lines = fh.read().split(b"\n")
        lines[5] = lines[5].replace(b".", b"\xb7", 1)
        with open(path, "wb") as fh:
            fh.write(b"\n".join(lines))

    def missing_file(source, layout):
        os.remove(os.path.join(source, LAYOUT_FILES[layout][-1]))

    return [
        ("empty ratings file", LAYOUTS, empty, ["{ratings}: no ratings"], False),
        ("last line cut inside the timestamp", LAYOUTS, cut_timestamp, ["{ratings} line", "cut short"],
         True),
        ("missing column", LAYOUTS, drop_column, ["{ratings} line 1,"], False),
        ("duplicate rating", LAYOUTS, duplicate, ["{ratings} line", "rated a second time"], True),
        ("rating out of range", LAYOUTS, bad_rating, ["{ratings} line", "'9' is not one of"], True),
        ("non-UTF-8 byte in movies.csv", ("ml-latest",), latin1_title,
         ["movies.csv line", "field 'title'", "not valid UTF-8 (byte 0xe9)"], True),
        ("non-UTF-8 byte in ratings.csv", ("ml-latest",), latin1_rating,
         ["ratings.csv line 6", "field 'rating'", "not valid UTF-8"], True),
        ("missing file", LAYOUTS, missing_file, ["lacks {movies}"], False),
    ]


# name -> (which feature: "closed" categorical / "numeric" / a feature name, records -> drifted)
DRIFTS = {
    "category explosion": ("closed", lambda recs, f: [{**r, f: [f"new-{i}"]} if i % 2 else r
                                                      for i, r in enumerate(recs)]),
    "missing feature": ("numeric", lambda recs, f: [{k: v for k, v in r.items() if k != f} for r in recs]),
    "timestamps in milliseconds": ("timestamp", lambda recs, f: [{**r, f: [t * 1000 for t in r[f]]}
                                                                 for r in recs]),
}
# reader -> its closed categorical and a required single-valued numeric feature
DRIFT_FEATURES = {"synthetic": {"closed": "item_category", "numeric": "item_price"},
                  "ml-100k": {"closed": "item_genres", "numeric": "history_rating_mean"},
                  "ml-1m": {"closed": "item_genres", "numeric": "history_rating_mean"},
                  "ml-latest": {"closed": "item_genres", "numeric": "history_rating_mean"}}


def drifted(name: str, reader: str, records: list[dict]) -> tuple[str, list[dict]]:
    """(the feature drift ``name`` breaks for ``reader``, ``records`` with that drift)."""
    which, fn = DRIFTS[name]
    feature = DRIFT_FEATURES[reader].get(which, which)
    return feature, fn(records, feature)


# ---------------------------------------------------------------------------------------- runner
class Tally:
    def __init__(self):
        self.rows = []

    def expect_error(self, kind, name, fn, must_hold, types=(ValueError, FileNotFoundError)):
        """A case is caught when ``fn`` raises a user-facing error (what ``recsys`` prints as
        ``error: ...``) whose message holds every string of ``must_hold``."""
        t = time.perf_counter()
        try:
            fn()
            caught, message = False, "no error"
        except types as e:
            message = str(e)
            caught = all(s in message for s in must_hold)
        except Exception as e:  # noqa: BLE001  (a crash is a miss, and is recorded as one)
            caught, message = False, f"{type(e).__name__}: {e}"
        self.rows.append({"kind": kind, "case": name, "caught": caught,
                          "seconds": round(time.perf_counter() - t, 2),
                          "message": message.splitlines()[0][:300] if message else ""})
        print(f"{'caught' if caught else 'MISSED'}  {kind:8} {name}: {self.rows[-1]['message']}",
              flush=True)

    def add(self, kind, name, caught, message):
        self.rows.append({"kind": kind, "case": name, "caught": bool(caught), "message": message[:300]})
        print(f"{'caught' if caught else 'MISSED'}  {kind:8} {name}: {message[:200]}", flush=True)


def run_config_cases(tally):
    for name, overrides, must_hold in config_cases():
        tally.expect_error("config", name, lambda o=overrides: check_run_inputs(load_config(None, o)),
                           must_hold)


def run_reader_cases(tally, tmp):
    for name, layouts, edit, must_hold, skippable in reader_cases():
        for layout in layouts:
            source = movielens_fixture.write(os.path.join(tmp, "src"), layout, **SMALL)
            edit(source, layout)
            out = os.path.join(tmp, "out")
            files = {"ratings": _ratings_file(layout), "movies": LAYOUT_FILES[layout][-1]}
            tally.expect_error("reader", f"{name} ({layout})",
                               lambda: prepare_data(_movielens_config(out, source, layout)),
                               [m.format(**files) for m in must_hold])
            if skippable:  # asked to skip: the rows are dropped, and counted with the reason
                try:
                    root = prepare_data(_movielens_config(out, source, layout, "data.skip_bad_rows=true"))
                    skipped = prepared_manifest(root).get("skipped", {})
                    tally.add("skip", f"{name} ({layout})", sum(skipped.values()) >= 1,
                              f"dropped and counted: {skipped}")
                except Exception as e:  # noqa: BLE001
                    tally.add("skip", f"{name} ({layout})", False, f"{type(e).__name__}: {e}")
            shutil.rmtree(os.path.join(tmp, "src"))
            shutil.rmtree(out, ignore_errors=True)
    source = movielens_fixture.write(os.path.join(tmp, "src"), "ml-latest", **SMALL)
    config = load_config(None, [f"pipeline.output_dir={tmp}/out", "data.dataset=movielens",
                                f"data.source={source}"])  # ml-100k's features: demographics
    tally.expect_error("reader", "feature config of another layout (ml-latest with movielens.toml)",
                       lambda: prepare_data(config), ["has no 'user_age'", "movielens_latest.toml"])
    shutil.rmtree(os.path.join(tmp, "src"))


def prepared(reader: str, out: str):
    """(the records ``prepare_data`` writes for ``reader`` on small made-up data, as dicts of
    lists; the curated schema a run checks them against)."""
    if reader == "synthetic":
        config = load_config(None, [f"pipeline.output_dir={out}", "data.num_events=3000",
                                    "data.num_users=200", "data.num_items=150", "data.num_shards=1"])
    else:
        source = movielens_fixture.write(os.path.join(out, "src"), reader, **SMALL)
        config = _movielens_config(out, source, reader)
    records = list(read_tfrecords(os.path.join(prepare_data(config), "*", "*.tfrecord.gz")))
    return records, schema_path(FeatureConfig.load(config.features_path).dataset)


def drift_anomalies(records, schema) -> list[str]:
    """ExampleValidator's findings for ``records`` against ``schema`` (in memory)."""
    from recsys.components.anomalies_gate import anomalies_in

    return anomalies_in([to_tf_example(r).SerializeToString() for r in records], schema)


def run_drift_cases(tally, tmp):
    false_alarms = 0
    for reader in DRIFT_FEATURES:
        records, schema = prepared(reader, os.path.join(tmp, reader))
        clean = drift_anomalies(records, schema)
        false_alarms += bool(clean)
        if clean:
            print(f"FALSE ALARM on clean {reader} data: {clean}", flush=True)
        for name in DRIFTS:
            feature, bad = drifted(name, reader, records)
            lines = drift_anomalies(bad, schema)
            tally.add("drift", f"{name} ({reader})",
                      any(f"feature {feature!r}" in line for line in lines), " | ".join(lines) or "no anomaly")
    return false_alarms


def run_report_case(tally):
    text = jsonio.dumps({"auc": float("nan"), "recall": float("inf")})
    try:
        json.loads(text, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
        tally.add("report", "NaN metric in a JSON report", True, text)
    except ValueError:
        tally.add("report", "NaN metric in a JSON report", False, text)


def run_pipeline_case(tally, tmp):
    """Millisecond timestamps in an ml-latest ratings.csv, through the runner ``recsys run`` uses."""
    from recsys.pipeline.local_runner import RunPaths, run, summarize

    source = movielens_fixture.write(os.path.join(tmp, "src"), "ml-latest")
    _edit(os.path.join(source, "ratings.csv"), lambda t: "".join(
        line + ("000\n" if i else "\n") for i, line in enumerate(t.splitlines())), encoding="utf-8")
    config = _movielens_config(os.path.join(tmp, "runs"), source, "ml-latest")
    tally.expect_error("pipeline", "ms timestamps through the pipeline", lambda: run(config),
                       ["feature 'timestamp': Out-of-range values"])
    paths = RunPaths.from_config(config)
    components = summarize(paths)["components"]
    pushed = [d for d in (paths.serving_dir, paths.retrieval_serving_dir) if os.path.isdir(d) and os.listdir(d)]
    trained = sorted({"Transform", "Trainer", "RetrievalTrainer"} & set(components))
    tally.add("pipeline", "nothing trained or pushed after the gate stopped the run",
              not trained and not pushed, f"components run: {sorted(components)}; pushed: {pushed}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--no-pipeline", action="store_true", help="skip the pipeline run (~2 min)")
    args = ap.parse_args(argv)
    tally = Tally()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bad-data-") as tmp:
        run_config_cases(tally)
        run_reader_cases(tally, os.path.join(tmp, "reader"))
        false_alarms = run_drift_cases(tally, os.path.join(tmp, "drift"))
        run_report_case(tally)
        if not args.no_pipeline:
            try:
                run_pipeline_case(tally, os.path.join(tmp, "pipeline"))
            except Exception:  # noqa: BLE001
                traceback.print_exc()
                tally.add("pipeline", "pipeline case", False, "crashed; see the traceback")
    by_kind = {}
    for row in tally.rows:
        k = by_kind.setdefault(row["kind"], {"tried": 0, "caught": 0})
        k["tried"] += 1
        k["caught"] += row["caught"]
    result = {"tried": len(tally.rows), "caught": sum(r["caught"] for r in tally.rows),
              "missed": [f"{r['kind']}: {r['case']}" for r in tally.rows if not r["caught"]],
              "false_alarms_on_clean_data": false_alarms, "by_kind": by_kind,
              "cases": tally.rows, "seconds": round(time.perf_counter() - start, 1), **stamp()}
    record(RESULTS, {"bad_data": result})
    print(json.dumps({k: v for k, v in result.items() if k != "cases"}, indent=2))
    return 0 if not result["missed"] and not false_alarms else 1


if __name__ == "__main__":
    sys.exit(main())
