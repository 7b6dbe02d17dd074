"""Re-creates the curated schemas in configs/schemas/ (run after changing a data source).

TFDV infers a first draft from a sample; the edits below are the curation, kept as code so they are
reviewed like code: which features are required, which categorical domains are closed, which
numeric ranges are valid. The pipeline imports the result with ImportSchemaGen and
ExampleValidator checks every run's data against it.

  python scripts/curate_schema.py synthetic
  python scripts/curate_schema.py synthetic --sessions   # synthetic_sessions.pbtxt (data.sessions)
  python scripts/curate_schema.py movielens --source ../shared/data/ml-100k
  python scripts/curate_schema.py movielens_latest --fixture

``--fixture`` drafts from a made-up data set in the layout (``data/movielens_fixture.py``) rather
than from real data: the draft gives only types and shapes, and everything a check depends on
(domains, ranges, presence) is set below from the layout's definition. A schema inferred from the
very data it is meant to check would pass that data whatever it holds.
"""

import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # Keras 2, before TensorFlow is imported

import tensorflow_data_validation as tfdv  # noqa: E402
from tensorflow_metadata.proto.v0 import schema_pb2  # noqa: E402

from recsys.data.movielens import ML100K_GENRES, ML_LATEST_GENRES  # noqa: E402
from recsys.data import movielens_fixture  # noqa: E402
from recsys.data.prepare import prepare_data  # noqa: E402
from recsys.config import CONFIG_DIR, load_config  # noqa: E402
from recsys.features import FeatureConfig  # noqa: E402

# Domains that are closed by construction of the source; any other domain TFDV inferred is
# dropped, since ids, brands and zips legitimately grow.
CLOSED_DOMAINS = {"synthetic": {"user_gender", "user_region", "item_category"},
                  "synthetic_sessions": {"user_gender", "user_region", "item_category"},
                  "movielens": {"user_gender"}, "movielens_latest": set()}
# Domains that are closed by the source's definition, whatever a sample shows: a value outside
# them (a genre misspelt, a column shifted into this one) is an anomaly. ml-100k's "unknown" genre
# is read as no genre; ml-latest's README spells "Children's", its files "Children".
STRING_DOMAINS = {"movielens": {"item_genres": [g for g in ML100K_GENRES if g != "unknown"]},
                  "movielens_latest": {"item_genres": [*ML_LATEST_GENRES, "Children's"]}}
# timestamp: unix seconds up to 2**32 (the year 2106); one in milliseconds (since 1970-02-19) exceeds it.
INT_RANGES = {"user_age": (0, 150), "timestamp": (0, 2**32), "item_listed": (0, 2**32), "label": (0, 1), "purchase": (0, 1),
              "item_year": (1870, 2100), "history_rating_count": (0, 2**31)}
FLOAT_RANGES = {"item_price": (0.0, 1e7), "item_ctr": (0.0, 1.0), "rating": (0.5, 5.0), "history_rating_mean": (0.0, 5.0)}


def curate(schema: schema_pb2.Schema, features: FeatureConfig) -> schema_pb2.Schema:
    # Count-slice buckets (data/prepare.py) take exactly their configured labels.
    count_slices = {cs.name for cs in features.count_slices}
    closed = CLOSED_DOMAINS[features.dataset] | count_slices
    keep_domains = set()
    for f in schema.feature:
        if f.domain and f.name in closed:
            keep_domains.add(f.domain)
        elif f.domain:
            f.ClearField("domain")
        if f.name in INT_RANGES:
            lo, hi = INT_RANGES[f.name]
            f.int_domain.min, f.int_domain.max = lo, hi
        if f.name in FLOAT_RANGES:
            lo, hi = FLOAT_RANGES[f.name]
            f.float_domain.min, f.float_domain.max = lo, hi
        model_feature = (f.name in {x.name for x in features.features} or f.name in features.label_keys
                         or f.name in count_slices)
        if model_feature and not (f.name in {x.name for x in features.features} and features[f.name].is_varlen):
            f.presence.min_fraction = 1.0  # every example must carry every single-valued feature
    declared = STRING_DOMAINS.get(features.dataset, {})
    kept = [d for d in schema.string_domain if d.name in keep_domains and d.name not in declared]
    del schema.string_domain[:]
    schema.string_domain.extend(kept)
    for f in schema.feature:
        if f.name in declared:
            f.domain = f.name
            schema.string_domain.add(name=f.name, value=declared[f.name])
    return schema


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dataset")
    ap.add_argument("--source", default="")
    ap.add_argument("--fixture", action="store_true",
                    help="draft from a made-up ml-latest data set (movielens_latest only)")
    ap.add_argument("--sessions", action="store_true",
                    help="the synthetic log with sessions (data.sessions = true)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        source = movielens_fixture.write(os.path.join(tmp, "fixture"), "ml-latest") if args.fixture \
            else args.source
        cfg = load_config(None, [f"data.dataset={args.dataset}", f"data.source={source}",
                                 f"pipeline.output_dir={tmp}", "data.num_events=60000",
                                 f"data.sessions={str(args.sessions).lower()}"])
        features = FeatureConfig.load(cfg.features_path)
        root = prepare_data(cfg)
        stats = tfdv.generate_statistics_from_tfrecord(os.path.join(root, "data", "*"))
        schema = curate(tfdv.infer_schema(stats, infer_feature_shape=True), features)
    path = os.path.join(CONFIG_DIR, "schemas", f"{features.dataset}.pbtxt")
    tfdv.write_schema_text(schema, path)
    print("wrote", path)


if __name__ == "__main__":
    main()
