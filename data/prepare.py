"""Turns a data source into the gzip tf.Example shards that ImportExampleGen reads.

The output directory is keyed by everything that shapes the data (source, size, seed, split), and a
finished directory carries a manifest: a second run with the same settings reuses it untouched, so
ExampleGen sees identical files and the whole TFX pipeline is served from its cache.

Besides the source's own fields, every record gets the feature config's evaluation-only count
slices (user activity, item popularity buckets; ``data/count_slices.py``), counted over the whole
log in a first pass. The count slice definitions are part of the directory key, so editing them
writes new data rather than reusing stale files.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import os
import shutil

from recsys.data import count_slices
from recsys import progress
from recsys.data.canonical import write_tfrecords
from recsys.data.leave_last_out import LeaveLastOut, is_interaction
from recsys.config import DATASETS, Config
from recsys.features import FeatureConfig
from recsys.fingerprint import source_fingerprint

MANIFEST = "manifest.json"


def _settings(config: Config, features: FeatureConfig | None = None) -> dict:
    d = config.data
    s = {"dataset": d.dataset, "split": d.split, "eval_fraction": d.eval_fraction,
         "history_length": d.history_length, "num_shards": d.num_shards}
    if d.split == "leave_last_out":  # only then: the other splits' data keys stay as they were
        s["leave_out_validation"] = d.leave_out_validation
    if d.dataset == "synthetic":
        s.update(num_users=d.num_users, num_items=d.num_items, num_events=d.num_events, seed=d.seed)
        if d.sessions:  # only then: the sessionless data keeps its key
            s.update(sessions=True, session_intent=d.session_intent)
            if d.session_drift:  # only then: the drift-free session data keeps its key
                s["session_drift"] = d.session_drift
    else:
        s.update(source=os.path.abspath(d.source), skip_bad_rows=d.skip_bad_rows)
    features = features or FeatureConfig.load(config.features_path)
    s["count_slices"] = [dataclasses.asdict(cs) for cs in features.count_slices]
    s["code"] = _code_fingerprint()
    return s


def _code_fingerprint() -> str:
    """data/*.py: a changed reader or generator (a new record field, say) must prepare the data
    again rather than reuse examples written by the old code."""
    return source_fingerprint("data")


def data_root_for(config: Config, features: FeatureConfig | None = None) -> str:
    """Where the data for ``config`` is written (``features``: its feature config, if loaded)."""
    settings = _settings(config, features)
    key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:10]
    return os.path.join(os.path.abspath(config.pipeline.output_dir), "data", f"{config.data.dataset}-{key}")


def synthetic_config(config: Config):
    """The generator's ``SyntheticConfig`` of a run config (``data.dataset = "synthetic"``): what
    a benchmark regenerates to compare with the hidden world."""
    from recsys.data import synthetic

    d = config.data
    return synthetic.SyntheticConfig(num_users=d.num_users, num_items=d.num_items,
                                     num_events=d.num_events, history_length=d.history_length,
                                     seed=d.seed, sessions=d.sessions,
                                     session_intent=float(d.session_intent),
                                     session_drift=float(d.session_drift))


def _records_and_cutoff(config: Config):
    """(function returning a fresh record iterator, timestamp cutoff for the temporal split, report
    dict). A function, since the count slices need a counting pass before the writing pass."""
    d = config.data
    if d.dataset == "synthetic":
        from recsys.data import synthetic

        sc = synthetic_config(config)
        # Seeded: the second pass regenerates the very same records (cheaper than holding them).
        return (lambda: synthetic.generate(sc)), synthetic.temporal_cutoff(sc, 1 - d.eval_fraction), {}
    if d.dataset.startswith("movielens"):
        from recsys.data import movielens

        if not d.source:
            raise ValueError("data.source is empty; expected the MovieLens directory "
                             "(e.g. --set data.source=../shared/data/ml-100k)")
        records, report = movielens.read_movielens(d.source, history_length=d.history_length,
                                                   skip_bad_rows=d.skip_bad_rows)
        records = list(records)  # the reader holds the ratings in memory anyway; sorted by time
        cutoff = records[int(len(records) * (1 - d.eval_fraction))]["timestamp"] if records else 0
        return (lambda: iter(records)), cutoff, {"skipped": dict(report.skipped), "layout": report.layout}
    raise ValueError(f"data.dataset={d.dataset!r}; expected one of {', '.join(DATASETS)}")


def prepared_manifest(root: str) -> dict:
    """The manifest of prepared data: settings, example counts per split, rows skipped."""
    with open(os.path.join(root, MANIFEST)) as fh:
        return json.load(fh)


def skipped_text(skipped: dict[str, int]) -> str:
    """What ``data.skip_bad_rows`` dropped, for the terminal and the run's report."""
    reasons = ", ".join(f"{n:,} {reason}" for reason, n in sorted(skipped.items()))
    return f"skipped {sum(skipped.values()):,} bad rows (data.skip_bad_rows=true): {reasons}"


def check_contract(records, features: FeatureConfig, config: Config, layout: str = "",
                   sample: int = 1000):
    """``records``, unchanged, once the first ``sample`` have shown every feature, label and
    count-slice key the feature config needs. A reader whose records lack one (ml-latest has no
    demographics) would otherwise be found out by ExampleValidator only after the whole data set
    has been written, imported and summarised: minutes to hours on a large log."""
    it = iter(records)
    head = list(itertools.islice(it, sample))
    seen = set().union(*head) if head else set()
    needed = [f.name for f in features.features] + list(features.label_keys)
    needed += [cs.key for cs in features.count_slices]
    missing = sorted(set(needed) - seen)
    if head and missing:
        source = f"{config.data.dataset} {layout} data at {config.data.source!r}" if layout else \
            f"{config.data.dataset} data"
        hint = " (ml-latest: --set data.features=configs/features/movielens_latest.toml)" \
            if layout == "ml-latest" else ""
        raise ValueError(f"the {source} has no {', '.join(map(repr, missing))} (none of its first "
                         f"{len(head):,} records), which the feature config "
                         f"{config.features_path!r} declares; expected a feature config for this "
                         f"data{hint}")
    return itertools.chain(head, it)


def prepare_data(config: Config, *, force: bool = False, features: FeatureConfig | None = None) -> str:
    """Write (or reuse) the data for ``config``; returns the ImportExampleGen input directory.
    ``features``: the run's feature config, when the caller has loaded it already."""
    features = features or FeatureConfig.load(config.features_path)
    root = data_root_for(config, features)
    manifest = os.path.join(root, MANIFEST)
    if os.path.exists(manifest) and not force:
        return root
    if os.path.exists(root):
        shutil.rmtree(root)  # an interrupted earlier write: never mix its shards with new ones
    make_records, cutoff, report = _records_and_cutoff(config)
    if report.get("skipped"):
        progress.line(skipped_text(report["skipped"]))
    slices = features.count_slices
    records = check_contract(make_records(), features, config, report.get("layout", ""))
    if slices:
        records = count_slices.annotate(records, slices, count_slices.count(make_records(), slices))
    split_fn = None
    if config.data.split == "temporal":
        split_fn = lambda r: "train" if r["timestamp"] < cutoff else "eval"  # noqa: E731
    elif config.data.split == "leave_last_out":
        split_fn = LeaveLastOut(make_records(), features.user_key,
                                is_interaction(features.interactions, features.label),
                                validation=config.data.leave_out_validation).split
    tmp = root + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    total = config.data.num_events if config.data.dataset == "synthetic" else None
    bar = progress.Bar("preparing data", total, "examples")
    summary = write_tfrecords(records, tmp, num_shards=config.data.num_shards, split_fn=split_fn,
                              progress=bar.update)
    bar.update(sum(summary.counts.values()))
    bar.close()
    if not summary.counts:
        raise ValueError(f"data.dataset={config.data.dataset!r}: the data holds no examples; "
                         "expected at least one")
    with open(os.path.join(tmp, MANIFEST), "w") as fh:
        json.dump({"settings": _settings(config), "counts": summary.counts, **report}, fh, indent=2)
    os.replace(tmp, root)
    return root
