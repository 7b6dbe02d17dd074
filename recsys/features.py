"""The declarative feature config: every feature is defined once, here, from a TOML file.

Everything else is derived from a ``FeatureConfig``:

* the raw ``tf.Example`` parsing spec (``raw_feature_spec``; serving restricts the Transform
  output's own raw spec to these features),
* the Transform preprocessing (``recsys/preprocessing.py``, run by ``components/transform.py``),
* the model's inputs and embedding tables (``models/inputs.py``),
* the label keys (training, TFMA) and the TFMA slices (``components/evaluator.py``).

Adding a feature is one ``[[feature]]`` entry in ``configs/features/<dataset>.toml``::

    [[feature]]
    name = "item_brand"     # the raw tf.Example key
    kind = "categorical"    # categorical | numeric | multi_categorical | sequence
    dtype = "string"        # string | int64 | float
    side = "item"           # user | item | context  (which tower in retrieval)
    slice = true            # evaluate per value in TFMA (multi_categorical: per each value)

Cold-start slices are derived, not declared: Transform marks every example's user and item
``COLD`` (no interaction in the training split: the id is out of the model's vocabulary or was
only ever shown, never interacted with) or ``WARM`` as ``user_start`` / ``item_start``
(``FeatureConfig.cold_slices``); TFMA slices on them through the ranker's ``evaluation_slices``
signature, and the retrieval evaluator derives the same marks from the training split.

Large catalogues: a categorical feature's ``top_k`` caps its vocabulary at the N most frequent
values of the training split (tf.Transform's ``vocabulary(top_k=...)``; ``frequency_threshold``
drops values seen fewer times); every other value, and every value never seen, is hashed by
Transform into one of ``num_oov_buckets`` ids after the vocabulary (``apply_vocabulary``), at
training and serving alike. The embedding tables then have ``top_k + num_oov_buckets`` rows, not
one per raw id: 1M items and 10M users train with, say, ``top_k = 100000`` and
``num_oov_buckets = 10000``. Tail values sharing a bucket share its embedding; the retrieval index
still lists every item under its own key, told apart by its other attributes::

    [[feature]]
    name = "item_id"
    kind = "categorical"
    side = "item"
    top_k = 100000           # vocabulary: the 100k most frequent items
    num_oov_buckets = 10000  # the rest hash into 10k shared ids

Evaluation-only slices (``[[count_slice]]``) are *not* model features: ``data/prepare.py`` counts
the prepared log per ``key`` (user, item) and writes the key's frequency bucket as an extra string
feature, so TFMA can report per user-activity or item-popularity bucket; the model, Transform and
serving signatures never read it::

    [[count_slice]]
    name = "user_activity"                 # the raw tf.Example key data/prepare.py writes
    key = "user_id"                        # count examples per user over the whole log
    labels = ["heavy", "medium", "light"]  # most to least frequent; one bucket per label

Transformed feature names (the model's inputs) are decided here and nowhere else:
categorical/multi/sequence ``name`` -> int64 ids (``-1`` pads multi/sequence); numeric ``name`` ->
float z-score and, with ``num_buckets``, ``bucket_key(name)`` = ``name + "_bucket"`` -> int64
quantile bucket (a numeric feature with ``age_at`` is a unix-seconds time, and these outputs are
its age in days at the ``age_at`` time feature's instant: e.g. an item's listing time -> the item's
age at the request); a multi-valued feature with ``match_of`` also -> ``name + "_match"``, the float
share of its values equal to that feature's value (history categories vs the candidate's); time ``name`` -> ``name + "_hour"`` / ``name + "_weekday"`` ids; a ``[[cross]]``
-> ``cross_a_x_b`` ids (read by Wide&Deep's wide part, and with ``embed = true`` an embedded field
of every ranker). Transform's pass-through outputs (``raw_key``, ``CATALOG_ITEM_KEY``) and
the item-count vocabulary are named here too. Which label a run trains and is gated on is
``FeatureConfig.label_key(mode)`` (and ``aux_label_key`` for multi-task); the embedding-table sizes
are ``FeatureConfig.vocabulary_sizes(tf_transform_output)``.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Literal, Mapping

KINDS = ("categorical", "numeric", "multi_categorical", "sequence", "time")
# kind = "time": a unix-seconds timestamp -> <name>_hour (0-23) and <name>_weekday (0 = Monday),
# both UTC, each embedded: the time context of a request (retrieval's query tower, the rankers).
TIME_PARTS = {"hour": 24, "weekday": 7}
DTYPES = ("string", "int64", "float")
SIDES = ("user", "item", "context")
PAD_ID = -1  # padding id of multi_categorical / sequence outputs; never a vocabulary id
LABEL_MODES = ("binary", "regression")

# Names of Transform outputs besides the features' own (recsys/preprocessing.py writes them).
BUCKET_SUFFIX = "_bucket"
MATCH_SUFFIX = "_match"
CATALOG_ITEM_KEY = "catalog_item"  # the raw item key, passed through for the retrieval index
RAW_PREFIX = "raw__"  # raw model features, passed through unchanged (``raw_key``)
ITEM_COUNTS_VOCAB = "item_interaction_counts"  # "<count> <item>" lines over training interactions
# Cold-start slices (``FeatureConfig.cold_slices``): Transform output name -> which key it marks.
COLD_SLICES = {"user_start": "user", "item_start": "item"}
COLD, WARM = "cold", "warm"  # their values: the id has no / some training interaction


def bucket_key(name: str) -> str:
    """The Transform output holding numeric feature ``name``'s quantile bucket id."""
    return name + BUCKET_SUFFIX


def match_key(name: str) -> str:
    """The Transform output holding multi-valued feature ``name``'s ``match_of`` share."""
    return name + MATCH_SUFFIX


def raw_key(name: str) -> str:
    """The Transform output that carries raw feature ``name`` through unchanged."""
    return RAW_PREFIX + name


@dataclasses.dataclass(frozen=True)
class Feature:
    name: str
    kind: Literal["categorical", "numeric", "multi_categorical", "sequence", "time"]
    dtype: Literal["string", "int64", "float"] = "string"
    side: Literal["user", "item", "context"] = "context"
    # categorical / multi / sequence
    num_oov_buckets: int = 1
    top_k: int | None = None
    frequency_threshold: int = 0
    vocab_from: str | None = None  # share another feature's vocabulary (history -> item_id)
    max_length: int = 0  # multi / sequence: keep the first max_length values
    embedding_dim: int | None = None  # None: the model config's default
    # numeric
    log1p: bool = False
    num_buckets: int = 0  # > 0: also emit quantile buckets (an embeddable view of the number)
    # numeric int64 unix seconds: use the age in days at this ``time`` feature's instant instead
    # (item_listed + age_at = "timestamp" -> the item's age at the request). A listing time is
    # what a log carries; the age is what predicts, and it must be taken at each request.
    age_at: str | None = None
    # multi_categorical / sequence: also derive the share of this feature's (first max_length)
    # values equal to this single-valued feature's value (history_category + match_of =
    # "item_category" -> the share of the history in the candidate's category). Why: category
    # affinity is a match between two fields, which a ranker over concatenated embeddings learns
    # poorly; on the synthetic log this one number is worth 0.03 AUC to the hand regression.
    match_of: str | None = None
    # evaluation
    slice: bool = False

    def __post_init__(self):
        def bad(field, value, expected):
            raise ValueError(f"feature {self.name!r}: field {field!r} = {value!r}; expected {expected}")

        if self.kind not in KINDS:
            bad("kind", self.kind, f"one of {KINDS}")
        if self.dtype not in DTYPES:
            bad("dtype", self.dtype, f"one of {DTYPES}")
        if self.side not in SIDES:
            bad("side", self.side, f"one of {SIDES}")
        if self.kind in ("multi_categorical", "sequence") and self.max_length <= 0:
            bad("max_length", self.max_length, "a positive length for a multi-valued feature")
        if self.kind == "numeric" and self.dtype == "string":
            bad("dtype", self.dtype, "int64 or float for a numeric feature")
        if self.kind != "numeric" and (self.log1p or self.num_buckets):
            bad("kind", self.kind, "'numeric' when log1p/num_buckets are set")
        if self.kind == "time" and self.dtype != "int64":
            bad("dtype", self.dtype, "int64 unix seconds for a time feature")
        if self.age_at is not None and (self.kind != "numeric" or self.dtype != "int64"):
            bad("age_at", self.age_at, "unset, or on a numeric int64 (unix seconds) feature")
        if self.match_of is not None and not self.is_varlen:
            bad("match_of", self.match_of, "unset, or on a multi_categorical/sequence feature")
        if self.num_oov_buckets < 1:
            bad("num_oov_buckets", self.num_oov_buckets, ">= 1 so unseen values have an id")
        if self.top_k is not None and (isinstance(self.top_k, bool) or not isinstance(self.top_k, int)
                                       or self.top_k < 1):
            bad("top_k", self.top_k, "a vocabulary size >= 1 (the most frequent values kept), or unset")
        if isinstance(self.frequency_threshold, bool) or not isinstance(self.frequency_threshold, int) \
                or self.frequency_threshold < 0:
            bad("frequency_threshold", self.frequency_threshold, "an int >= 0 (0: keep every value)")
        if self.vocab_from and (self.top_k is not None or self.frequency_threshold
                                or self.num_oov_buckets != 1):
            # The vocabulary and its buckets are the owner's: a second setting here would be ignored.
            bad("vocab_from", self.vocab_from, "no top_k / frequency_threshold / num_oov_buckets on "
                "this feature: set them on the vocabulary's owner")
        if not self.has_vocabulary and (self.top_k is not None or self.frequency_threshold):
            bad("kind", self.kind, "a vocabulary kind when top_k / frequency_threshold are set")
        if self.slice and self.kind in ("sequence", "time"):
            # A multi_categorical feature slices fine (an example counts in each of its values'
            # slices: per genre); a behaviour history would make one slice per item ever seen,
            # a timestamp one per second.
            bad("slice", self.slice, f"false: a {self.kind} feature is no slice")

    @property
    def is_varlen(self) -> bool:
        return self.kind in ("multi_categorical", "sequence")

    @property
    def vocab_name(self) -> str:
        """The Transform vocabulary file this feature's ids index into."""
        return f"vocab_{self.vocab_from or self.name}"

    @property
    def has_vocabulary(self) -> bool:
        return self.kind not in ("numeric", "time")

    @property
    def time_parts(self) -> dict[str, int]:
        """Transformed id feature -> number of ids, for a ``time`` feature (else empty)."""
        return {f"{self.name}_{part}": n for part, n in TIME_PARTS.items()} if self.kind == "time" else {}

    @property
    def bucket_key(self) -> str | None:
        """The quantile-bucket id output of a numeric feature with ``num_buckets``; else None."""
        return bucket_key(self.name) if self.kind == "numeric" and self.num_buckets else None

    @property
    def match_key(self) -> str | None:
        """The float [B] output with the share of values equal to ``match_of``'s; else None."""
        return match_key(self.name) if self.match_of else None

    @property
    def id_keys(self) -> tuple[str, ...]:
        """This feature's transformed int64 id outputs, each with an embedding / wide weight per
        id: the vocabulary ids (categorical, multi, sequence), the bucket of a bucketised number,
        a time feature's parts; none for a plain number."""
        if self.kind == "time":
            return tuple(self.time_parts)
        if self.kind == "numeric":
            return (self.bucket_key,) if self.bucket_key else ()
        return (self.name,)


@dataclasses.dataclass(frozen=True)
class FeatureCross:
    """A hashed cross of single-valued features: the wide part of Wide&Deep memorises these.

    TOML: ``[[cross]]`` with ``features = ["user_gender", "item_category"]`` and ``hash_buckets``.
    Numeric features take part through their quantile bucket (they need ``num_buckets``).

    ``embed = true`` also makes the cross an embedded field of every ranker (DCN-v2, DIN, DeepFM,
    AutoInt, Wide&Deep's deep part, ...): one learned vector per hash bucket, the crossed feature
    of Wide&Deep / DCN. Why: an interaction such as user x category is a product of two fields
    that a ranker over their concatenated embeddings learns only in part; a table row per
    (user, category) holds it directly. Retrieval towers never read a cross (each sees one side).
    """

    features: tuple[str, ...]
    hash_buckets: int = 1000
    embed: bool = False
    # L2 on the embedded cross's table alone (default: the model's ``embedding_l2``). Why: a row
    # per (user, category) sees a few impressions where a user or item row sees hundreds, so at
    # the id tables' L2 it memorises its training clicks (the validation AUC fell); a stronger
    # penalty on this one table shrinks the rare rows toward 0 without under-fitting the others.
    l2: float | None = None

    def __post_init__(self):
        if not isinstance(self.embed, bool):
            raise ValueError(f"cross {self.name!r}: field 'embed' = {self.embed!r}; expected true "
                             "or false (also an embedded field of every ranker)")
        if self.l2 is not None and (isinstance(self.l2, bool) or not isinstance(self.l2, (int, float))
                                    or not self.l2 >= 0):
            raise ValueError(f"cross {self.name!r}: field 'l2' = {self.l2!r}; expected a number >= 0 "
                             "(the L2 of the embedded cross's table; omit it for the model's "
                             "embedding_l2)")
        if isinstance(self.hash_buckets, bool) or not isinstance(self.hash_buckets, int) \
                or self.hash_buckets < 1:
            raise ValueError(f"cross {self.name!r}: field 'hash_buckets' = {self.hash_buckets!r}; "
                             "expected an int >= 1")

    @property
    def name(self) -> str:
        return "cross_" + "_x_".join(self.features)


@dataclasses.dataclass(frozen=True)
class CountSlice:
    """An evaluation slice by how often ``key``'s value occurs in the log (e.g. user activity).

    Values of ``key`` are sorted from most to least frequent and cut where the running share of
    examples crosses 1/n, 2/n, ... for n = ``len(labels)``: every bucket holds about the same
    number of *examples* (not of users/items), so each slice's metrics are equally precise. With
    the default labels, "head" is the few most frequent items that make up a third of the log.
    """

    name: str
    key: str
    labels: tuple[str, ...] = ("head", "torso", "tail")

    def __post_init__(self):
        if len(self.labels) < 2 or len(set(self.labels)) != len(self.labels):
            raise ValueError(f"count_slice {self.name!r}: labels = {list(self.labels)}; expected at "
                             "least two distinct bucket names")


@dataclasses.dataclass(frozen=True)
class FeatureConfig:
    dataset: str
    features: tuple[Feature, ...]
    label: str = "label"  # binary label (click / rating >= 4)
    rating: str | None = None  # regression label, when the data has one
    # Post-click conversion label (0/1, only ever 1 on a clicked impression: a purchase), when the
    # data has one: the second task of ``train.multitask`` (ESMM / MMoE).
    conversion: str | None = None
    user_key: str = "user_id"
    item_key: str = "item_id"
    example_id_key: str = "example_id"
    timestamp_key: str = "timestamp"
    # TFMA cross slices, e.g. [["user_gender", "item_category"]]
    cross_slices: tuple[tuple[str, ...], ...] = ()
    crosses: tuple[FeatureCross, ...] = ()
    # Which examples are interactions (retrieval positives): "label" = those with label 1 (a
    # click), "all" = every example (every MovieLens rating, as in the TFRS retrieval tutorial).
    interactions: Literal["label", "all"] = "label"
    count_slices: tuple[CountSlice, ...] = ()  # evaluation-only; written by data/prepare.py

    def __post_init__(self):
        if self.interactions not in ("label", "all"):
            raise ValueError(f"feature config {self.dataset!r}: interactions={self.interactions!r}; "
                             "expected 'label' or 'all'")
        names = [f.name for f in self.features]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"feature config {self.dataset!r}: features defined twice: {dup}")
        by_name = {f.name: f for f in self.features}
        for f in self.features:
            if f.vocab_from is not None:
                src = by_name.get(f.vocab_from)
                if src is None or src.kind != "categorical" or src.dtype != f.dtype:
                    raise ValueError(f"feature {f.name!r}: vocab_from={f.vocab_from!r}; expected a "
                                     f"categorical feature of dtype {f.dtype!r} in this config")
        for f in self.features:
            if f.age_at is not None and (f.age_at not in by_name or by_name[f.age_at].kind != "time"):
                raise ValueError(f"feature {f.name!r}: age_at={f.age_at!r}; expected a feature of "
                                 f"kind 'time' in {self.dataset!r} (the instant the age is taken at)")
        for f in self.features:
            src = by_name.get(f.match_of) if f.match_of else None
            if f.match_of and (src is None or src.kind != "categorical" or src.dtype != f.dtype):
                raise ValueError(f"feature {f.name!r}: match_of={f.match_of!r}; expected a "
                                 f"categorical feature of dtype {f.dtype!r} in this config")
        for key in (self.user_key, self.item_key):
            if key not in by_name:
                raise ValueError(f"feature config {self.dataset!r}: key {key!r} is not a feature")
        for cross in self.crosses:
            if len(cross.features) < 2:
                raise ValueError(f"cross {cross.features}: expected >= 2 features")
            for n in cross.features:
                f = by_name.get(n)
                if f is None or f.is_varlen or f.kind == "time" or (f.kind == "numeric" and not f.num_buckets):
                    raise ValueError(f"cross {cross.name!r}: {n!r} must be a single-valued feature of "
                                     f"{self.dataset!r} (numeric ones need num_buckets)")
        for name in self.cold_slices:
            if name in by_name or name in {cs.name for cs in self.count_slices}:
                raise ValueError(f"feature config {self.dataset!r}: {name!r} is the derived cold-start "
                                 "slice's name; expected no feature or count slice of that name")
        for combo in self.cross_slices:
            for n in combo:
                if n not in by_name and n not in {cs.name for cs in self.count_slices} \
                        and n not in self.cold_slices:
                    raise ValueError(f"cross_slices: {n!r} is not a feature of {self.dataset!r}")
        for cs in self.count_slices:
            if cs.key not in by_name or by_name[cs.key].is_varlen:
                raise ValueError(f"count_slice {cs.name!r}: key = {cs.key!r}; expected a "
                                 f"single-valued feature of {self.dataset!r}")
            if cs.name in by_name or cs.name in self.label_keys:
                raise ValueError(f"count_slice {cs.name!r}: the name is already a feature or label")
        if self.label in by_name or (self.rating and self.rating in by_name):
            raise ValueError(f"label {self.label!r}/{self.rating!r} must not also be a feature")
        if self.conversion and (self.conversion in by_name or self.conversion == self.label):
            raise ValueError(f"feature config {self.dataset!r}: conversion = {self.conversion!r}; "
                             "expected a label of its own, neither a feature nor the click label")

    def __getitem__(self, name: str) -> Feature:
        for f in self.features:
            if f.name == name:
                return f
        raise KeyError(f"{name!r} is not a feature of {self.dataset!r}; features: "
                       f"{[f.name for f in self.features]}")

    def side_features(self, *sides: str) -> tuple[Feature, ...]:
        """Features of the given sides: the query tower takes user + context, the candidate
        tower item."""
        return tuple(f for f in self.features if f.side in sides)

    @property
    def label_keys(self) -> tuple[str, ...]:
        return ((self.label,) + ((self.rating,) if self.rating else ())
                + ((self.conversion,) if self.conversion else ()))

    def label_key(self, mode: str) -> str:
        """The label a ranker of ``label_mode`` ``mode`` trains on and is evaluated and gated on:
        the binary label, or the rating for ``regression``."""
        if mode not in LABEL_MODES:
            raise ValueError(f"train.label_mode={mode!r}; expected one of {LABEL_MODES}")
        if mode == "binary":
            return self.label
        if self.rating is None:
            raise ValueError(f"train.label_mode='regression' needs a rating label; data set "
                             f"{self.dataset!r} has none (its feature config sets no 'rating')")
        return self.rating

    def aux_label_key(self, mode: str, aux_weight: float, multitask: str = "off") -> str | None:
        """The auxiliary label of multi-task training: with ``multitask`` on ("esmm", "mmoe"), the
        conversion label (the click stays the main one); else with ``aux_weight`` > 0 the other one
        of the binary label and the rating (binary mode also regresses the rating, regression mode
        also classifies rating >= 4); None without one."""
        if multitask != "off":
            if mode != "binary":
                raise ValueError(f"train.multitask.mode={multitask!r} predicts click and conversion "
                                 f"probabilities; expected train.label_mode 'binary', got {mode!r}")
            if aux_weight > 0:
                raise ValueError(f"train.multitask.mode={multitask!r} and train.aux_weight="
                                 f"{aux_weight}: both train the second head; expected aux_weight 0")
            if self.conversion is None:
                raise ValueError(f"train.multitask.mode={multitask!r} needs a conversion label; data "
                                 f"set {self.dataset!r} has none (its feature config sets no "
                                 "'conversion')")
            return self.conversion
        if aux_weight <= 0:
            return None
        if self.rating is None:
            raise ValueError(f"train.aux_weight={aux_weight} needs both a binary label and a rating; "
                             f"data set {self.dataset!r} has no rating")
        return self.label_key("regression" if mode == "binary" else "binary")

    def passthrough_keys(self) -> tuple[str, ...]:
        """Transform outputs that carry raw values for the exports, or evaluation slices (the
        cold-start marks); never model inputs."""
        return ((CATALOG_ITEM_KEY,) + tuple(raw_key(f.name) for f in self.features)
                + tuple(self.cold_slices))

    @property
    def cold_slices(self) -> dict[str, str]:
        """Cold-start slice (a Transform output, ``COLD`` | ``WARM``) -> the id key it marks: the
        user key and the item key. "Cold" means no training *interaction* (``interactions``):
        what the retriever learns an id from, and for the ranker an id it never saw a click on."""
        keys = {"user": self.user_key, "item": self.item_key}
        return {name: keys[side] for name, side in COLD_SLICES.items()}

    def vocabulary_sizes(self, tf_transform_output) -> dict[str, int]:
        """Embedding-table size per transformed id feature (``Feature.id_keys``, crosses): the
        vocabulary + its OOV buckets, the quantile buckets, the time parts, the hash buckets."""
        sizes = {}
        for f in self.features:
            sizes.update(f.time_parts)
            if f.bucket_key:
                sizes[f.bucket_key] = f.num_buckets + 1
            if f.has_vocabulary:
                owner = self[f.vocab_from] if f.vocab_from else f
                sizes[f.name] = (tf_transform_output.vocabulary_size_by_name(f.vocab_name)
                                 + owner.num_oov_buckets)
        for cross in self.crosses:
            sizes[cross.name] = cross.hash_buckets
        return sizes

    @property
    def slice_features(self) -> tuple[str, ...]:
        """TFMA's single-feature slices: features with ``slice = true``, every count slice and the
        cold-start slices (Transform outputs: TFMA reads them through ``transform_features``)."""
        return (tuple(f.name for f in self.features if f.slice) + tuple(c.name for c in self.count_slices)
                + tuple(self.cold_slices))

    @property
    def embedded_crosses(self) -> tuple[FeatureCross, ...]:
        """The crosses with ``embed = true``: embedded fields of every ranker."""
        return tuple(c for c in self.crosses if c.embed)

    @property
    def vocabularies(self) -> tuple[str, ...]:
        """Vocabulary files Transform computes (one per owning feature)."""
        return tuple(f.vocab_name for f in self.features if f.has_vocabulary and not f.vocab_from)

    def raw_feature_spec(self, *, with_labels: bool = False) -> dict[str, Any]:
        """``tf.io.parse_example`` spec of the raw model features (and labels if asked)."""
        import tensorflow as tf

        dtypes = {"string": tf.string, "int64": tf.int64, "float": tf.float32}
        spec: dict[str, Any] = {}
        for f in self.features:
            dt = dtypes[f.dtype]
            spec[f.name] = tf.io.VarLenFeature(dt) if f.is_varlen else tf.io.FixedLenFeature([], dt)
        if with_labels:
            spec[self.label] = tf.io.FixedLenFeature([], tf.int64)
            if self.rating:
                spec[self.rating] = tf.io.FixedLenFeature([], tf.float32)
            if self.conversion:
                spec[self.conversion] = tf.io.FixedLenFeature([], tf.int64)
        return spec

    # --- serialisation: TFX custom_config must be JSON ---
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "FeatureConfig":
        d = dict(d)
        feats = d.pop("features", d.pop("feature", None))
        if not feats:
            raise ValueError("feature config: no [[feature]] entries")
        known = {f.name for f in dataclasses.fields(Feature)}
        features = []
        for i, fd in enumerate(feats):
            extra = set(fd) - known
            if extra:
                raise ValueError(f"feature #{i} {fd.get('name', '?')!r}: unknown fields {sorted(extra)}; "
                                 f"expected some of {sorted(known)}")
            features.append(Feature(**fd))
        cross_slices = tuple(tuple(c) for c in d.pop("cross_slices", ()))
        crosses = []
        for c in d.pop("cross", d.pop("crosses", ())):
            c = dict(c)
            extra = set(c) - {f.name for f in dataclasses.fields(FeatureCross)}
            if extra:
                raise ValueError(f"cross {c.get('features', '?')}: unknown fields {sorted(extra)}; "
                                 f"expected some of {sorted(f.name for f in dataclasses.fields(FeatureCross))}")
            crosses.append(FeatureCross(features=tuple(c.pop("features", ())), **c))
        count_slices = []
        for c in d.pop("count_slice", d.pop("count_slices", ())):
            c = dict(c)
            extra = set(c) - {f.name for f in dataclasses.fields(CountSlice)}
            if extra:
                raise ValueError(f"count_slice {c.get('name', '?')!r}: unknown fields {sorted(extra)}")
            count_slices.append(CountSlice(labels=tuple(c.pop("labels", CountSlice.labels)), **c))
        extra = set(d) - {f.name for f in dataclasses.fields(cls)}
        if extra:
            raise ValueError(f"feature config: unknown top-level fields {sorted(extra)}")
        return cls(features=tuple(features), cross_slices=cross_slices, crosses=tuple(crosses),
                   count_slices=tuple(count_slices), **d)

    @classmethod
    def load(cls, path: str) -> "FeatureConfig":
        import tomli

        with open(path, "rb") as fh:
            d = tomli.load(fh)
        # ``extends = "other.toml"`` (beside this file): that config's entries first, then these;
        # this file's top-level keys win. So a variant of a data set (the synthetic log with
        # sessions) adds its features without repeating every other one.
        base = d.pop("extends", None)
        if base is not None:
            parent = os.path.join(os.path.dirname(path), str(base))
            if not os.path.isfile(parent):
                raise ValueError(f"{path}: extends = {base!r}; expected a feature config file "
                                 f"beside it ({parent} does not exist)")
            with open(parent, "rb") as fh:
                inherited = tomli.load(fh)
            if "extends" in inherited:
                raise ValueError(f"{path}: extends = {base!r}, which extends another; expected "
                                 "one level")
            for key in ("feature", "cross", "count_slice"):
                d[key] = inherited.pop(key, []) + d.get(key, [])
            d = {**inherited, **d}
        try:
            return cls.from_dict(d)
        except (TypeError, ValueError) as e:
            raise ValueError(f"{path}: {e}") from e
