"""Two-tower retrieval on TensorFlow Recommenders, both towers derived from the feature config.

* Query tower: the user and context features (``side = "user" | "context"``), or with
  ``retrieval.query = "session"`` the context features alone (anonymous session-based retrieval:
  the current session's items and the time, no user id or demographics); each behaviour
  history is embedded with the *same* table the candidate tower uses and reduced to one vector by
  the configured sequence encoder (``retrieval.sequence_encoder``): a masked mean (order ignored),
  GRU4Rec (``models/gru4rec.py``) or SASRec (``models/sasrec.py``), one encoder per history.
* Candidate tower: the item features (id, genres/category, brand, price...). An item unseen in
  training gets an OOV id but still its attribute vectors, so cold items land near similar ones.
  ``oov_dropout`` (``inputs.OOVDropout``) sends a share of the user, item and history ids to
  their OOV buckets while training, so a cold user's or item's OOV row is a trained "unknown id"
  prior rather than an untrained random vector added to its attributes.
* Loss: TFRS ``Retrieval`` task -- in-batch sampled softmax over L2-normalised embeddings with a
  temperature, accidental-hit removal, and the **logQ correction** (Yi et al. 2019): in-batch
  negatives are drawn in proportion to item frequency, so popular items are over-sampled as
  negatives; subtracting ``log q(item)`` from each logit makes the softmax estimate unbiased.
* SASRec's all-positions loss, optional (``retrieval.sasrec.all_positions_weight``,
  ``models/next_item_loss.py``): every older position of the history also predicts the item that
  followed it (Kang & McAuley 2018), added to the Retrieval loss while training only.
* Mixed negatives (Yang et al. 2020), optional: ``uniform_negatives`` catalogue items drawn
  uniformly per batch are appended as extra candidates; an item then arrives as a negative with
  expected count ``B q_j + M / N``, which is the probability the correction subtracts.
* Full-catalogue softmax, optional (``retrieval.negatives = "catalogue"``,
  ``models/catalogue_loss.py``): every catalogue item is a negative of every query, so nothing is
  sampled and no correction is needed; for catalogues of thousands.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
import tensorflow_recommenders as tfrs

from recsys.models.catalogue_loss import catalogue_softmax_loss
from recsys.models.gru4rec import GRU4Rec
from recsys.models.inputs import FeatureEmbedding, OOVDropout, id_oov_ids, masked_mean
from recsys.models.next_item_loss import all_positions_loss
from recsys.models.sasrec import SASRec
from recsys.models.train_step import DistributedTrainStep
from recsys.config import RetrievalConfig
from recsys.features import FeatureConfig

keras = tf.keras

QUERY_SIDES = ("user", "context")
CANDIDATE_SIDES = ("item",)
# ``retrieval.query`` -> the sides the query tower reads. "session": anonymous, the request's
# context only (the current session's items, the time): no user id, demographics or history.
QUERY_MODES = {"user": QUERY_SIDES, "session": ("context",)}


def transformed_keys(features: FeatureConfig, sides: tuple[str, ...]) -> tuple[str, ...]:
    """The Transform outputs that a tower of ``sides`` reads (numeric buckets included)."""
    keys = []
    for f in features.side_features(*sides):
        if f.kind == "time":
            keys.extend(f.time_parts)
            continue
        keys.append(f.name)
        if f.bucket_key:
            keys.append(f.bucket_key)
    return tuple(keys)


def request_features(features: FeatureConfig, config: RetrievalConfig) -> tuple[str, ...]:
    """The raw features a retrieval request carries (what the signatures parse): every user and
    context feature in user mode (``query_exclude`` tunes the tower, not the clients' requests),
    only the context-side ones in session mode, which must include a behaviour sequence."""
    if config.query not in QUERY_MODES:
        raise ValueError(f"retrieval.query = {config.query!r}; expected one of {sorted(QUERY_MODES)}")
    chosen = features.side_features(*QUERY_MODES[config.query])
    if config.query == "session" and not any(f.kind == "sequence" for f in chosen):
        raise ValueError(f"retrieval.query = 'session': the feature config {features.dataset!r} has no "
                         "context-side sequence feature (the session's items); expected one, e.g. "
                         "session_history with data.sessions = true")
    return tuple(f.name for f in chosen)


def query_features(features: FeatureConfig, config: RetrievalConfig) -> tuple[str, ...]:
    """The features the query tower reads: the request's features (``retrieval.query``) minus
    ``retrieval.query_exclude``."""
    names = request_features(features, config)
    unknown = [n for n in config.query_exclude if n not in names]
    if unknown:
        raise ValueError(f"retrieval.query_exclude: {unknown[0]!r} is not a query-tower feature; "
                         f"expected some of {list(names)}")
    kept = tuple(n for n in names if n not in config.query_exclude)
    if not kept:
        raise ValueError(f"retrieval.query_exclude = {list(config.query_exclude)} leaves the query "
                         "tower no feature; expected at least one kept")
    return kept


def sequence_encoders(features: FeatureConfig, config: RetrievalConfig, names: tuple[str, ...],
                      embedding_dim: int) -> dict[str, keras.layers.Layer]:
    """One encoder per sequence feature among ``names`` (its own weights: the full history and,
    say, the liked-only history are different signals); none for ``"mean"``, the Tower's default."""
    kind = config.sequence_encoder
    sequences = tuple(f.name for f in features.features if f.name in names and f.kind == "sequence")
    unknown = [n for n in config.encoded_sequences if n not in sequences]
    if unknown:
        raise ValueError(f"retrieval.encoded_sequences: {unknown[0]!r} is not a sequence feature of "
                         f"the query tower; expected some of {list(sequences)}")
    if kind == "mean":
        return {}
    out = {}
    for f in features.features:
        if f.name not in sequences or (config.encoded_sequences and f.name not in config.encoded_sequences):
            continue
        table = features[f.vocab_from] if f.vocab_from else f  # whose table it looks up (inputs.py)
        dim = table.embedding_dim or embedding_dim
        if kind == "gru":
            out[f.name] = GRU4Rec(dim, dropout=config.gru.dropout, name=f"gru4rec_{f.name}")
        elif kind == "sasrec":
            s = config.sasrec
            out[f.name] = SASRec(f.max_length, dim, blocks=s.blocks, heads=s.heads, dropout=s.dropout,
                                 name=f"sasrec_{f.name}")
        else:
            raise ValueError(f"retrieval.sequence_encoder = {kind!r}; expected 'mean', 'gru' or 'sasrec'")
    return out


def all_positions_sequences(features: FeatureConfig, config: RetrievalConfig,
                            encoders: dict[str, keras.layers.Layer]) -> tuple[str, ...]:
    """The SASRec-encoded histories the all-positions loss trains (``next_item_loss.py``): none
    unless ``retrieval.sasrec.all_positions_weight`` > 0; only histories of the item vocabulary,
    whose targets are rows of the table the candidate tower shares and whose logQ is the items'."""
    if config.sequence_encoder != "sasrec" or not config.sasrec.all_positions_weight:
        return ()
    return tuple(n for n, e in encoders.items()
                 if isinstance(e, SASRec) and features[n].vocab_from == features.item_key)


class Tower(keras.layers.Layer):
    """Embeds its side's features (shared tables), concatenates, MLP, L2-normalises.

    ``encoders``: sequence feature -> a layer ``(values [B, L, d], mask [B, L]) -> [B, d']``;
    a sequence without one is reduced by its masked mean."""

    def __init__(self, embedding: FeatureEmbedding, names: tuple[str, ...], hidden: tuple[int, ...],
                 output_dim: int, encoders: dict[str, keras.layers.Layer] | None = None, **kwargs):
        super().__init__(**kwargs)
        if not names:
            raise ValueError(f"tower {self.name!r}: no features of its side in the feature config")
        self.embedding = embedding
        self.names = tuple(names)
        if encoders:  # only when set: the mean tower keeps exactly the variables it always had
            self.encoders = dict(encoders)
        self.mlp = keras.Sequential([keras.layers.Dense(u, activation="relu") for u in hidden]
                                    + [keras.layers.Dense(output_dim)])

    def _reduce(self, name: str, sequence: dict, training: bool, positions: dict) -> tf.Tensor:
        encoder = getattr(self, "encoders", {}).get(name)
        if encoder is None:
            return masked_mean(sequence["values"], sequence["mask"])
        if name in positions:
            vector, positions[name] = encoder(sequence["values"], sequence["mask"], training=training,
                                              all_positions=True)
            return vector
        return encoder(sequence["values"], sequence["mask"], training=training)

    def call(self, features, training: bool = False, positions: tuple[str, ...] = ()):
        """The L2-normalised tower output [B, output_dim]; with ``positions`` (sequence features
        whose encoder has per-position outputs: SASRec) also ``{name: [B, L, d]}``, for the
        training-only all-positions loss; the serving signatures never ask for it."""
        vectors, sequences = self.embedding(features, names=self.names)
        outputs: dict[str, tf.Tensor] = {n: None for n in positions}
        parts = {**vectors, **{k: self._reduce(k, s, training, outputs) for k, s in sequences.items()}}
        x = tf.concat([tf.cast(parts[k], tf.float32) for k in sorted(parts)], axis=-1)
        out = tf.math.l2_normalize(self.mlp(x, training=training), axis=-1)
        return (out, outputs) if positions else out


def sampling_probability(item_ids: tf.Tensor, item_probability: tf.Tensor, batch_size: tf.Tensor,
                         uniform_negatives: int, catalog_size: int) -> tf.Tensor:
    """How likely each candidate is to be drawn as a negative; TFRS subtracts its log (logQ).

    In-batch only: ``q_j``, the item's share of training interactions. Mixed: the per-slot
    probability of the mixture of B frequency-sampled and M uniform slots,
    ``(B q_j + M / N) / (B + M)``; both groups must be on one scale, and TFRS clips the
    probability to [1e-6, 1], so it is kept a probability rather than an expected count.
    """
    q = tf.gather(item_probability, item_ids)
    if uniform_negatives:
        b = tf.cast(batch_size, tf.float32)
        q = (b * q + uniform_negatives / catalog_size) / (b + uniform_negatives)
    return q


class TwoTowerModel(DistributedTrainStep, tfrs.models.Model):
    """Query and candidate towers trained with a TFRS Retrieval task.

    Args:
      item_probability: [vocabulary rows] sampling probability of each transformed item id
        (from Transform's interaction counts); None disables the logQ correction.
      catalog: transformed item features of every catalogue item (name -> [N, ...]); needed for
        uniform negatives, and what the exported index embeds.
    """

    def __init__(self, features: FeatureConfig, vocab_sizes: dict[str, int], config: RetrievalConfig,
                 item_probability: np.ndarray | None = None,
                 catalog: dict[str, np.ndarray] | None = None, **kwargs):
        super().__init__(**kwargs)
        self.features = features
        self.config = config
        # No crosses: each tower sees one side, and a cross such as user x category spans both.
        self.embedding = FeatureEmbedding(features, vocab_sizes, config.embedding_dim,
                                          l2=config.embedding_l2, crosses=False)
        query_names = query_features(features, config)
        candidate_names = tuple(f.name for f in features.side_features(*CANDIDATE_SIDES))
        self.candidate_keys = transformed_keys(features, CANDIDATE_SIDES)
        encoders = sequence_encoders(features, config, query_names, config.embedding_dim)
        self.query_tower = Tower(self.embedding, query_names, config.tower_layers, config.output_dim,
                                 encoders=encoders, name="query_tower")
        self.all_positions = all_positions_sequences(features, config, encoders)
        self.candidate_tower = Tower(self.embedding, candidate_names, config.tower_layers,
                                     config.output_dim, name="candidate_tower")
        self.task = tfrs.tasks.Retrieval(temperature=config.temperature,
                                         remove_accidental_hits=config.remove_accidental_hits,
                                         metrics=None)
        self.item_probability = (None if item_probability is None or not config.logq_correction
                                 else tf.constant(item_probability, tf.float32))
        self.oov_dropout = (OOVDropout(id_oov_ids(features, vocab_sizes), config.oov_dropout,
                                       name="oov_dropout") if config.oov_dropout else None)
        if config.uniform_negatives and not catalog:
            raise ValueError("retrieval.uniform_negatives > 0 needs the catalogue's item features")
        if config.negatives not in ("in_batch", "catalogue"):
            raise ValueError(f"retrieval.negatives = {config.negatives!r}; expected 'in_batch' or "
                             "'catalogue'")
        if config.negatives == "catalogue" and (config.uniform_negatives or not catalog):
            raise ValueError(
                "retrieval.negatives = 'catalogue' scores every catalogue item: it needs the catalogue's "
                f"item features and retrieval.uniform_negatives = 0 (got {config.uniform_negatives})")
        self.catalog = ({k: tf.constant(v) for k, v in catalog.items() if k in self.candidate_keys}
                        if catalog else None)

    def _catalog_size(self) -> int:
        return int(next(iter(self.catalog.values())).shape[0]) if self.catalog else 0

    def compute_loss(self, features, training: bool = False) -> tf.Tensor:
        # The logQ probabilities and accidental hits need the real item ids: taken before the
        # towers' inputs lose a share of them to the OOV buckets.
        ids = tf.reshape(features[self.features.item_key], [-1])
        histories = {n: features[n] for n in self.all_positions}  # the next-item targets, likewise
        if self.oov_dropout is not None:
            features = self.oov_dropout(features, training=training)
        positions = {}  # SASRec's per-position outputs, for the all-positions loss only
        if self.all_positions:
            query, positions = self.query_tower(features, training=training, positions=self.all_positions)
        else:
            query = self.query_tower(features, training=training)
        candidate_features = {k: features[k] for k in self.candidate_keys}
        if self.config.negatives == "catalogue":
            loss = catalogue_softmax_loss(
                query, self.candidate_tower(candidate_features, training=training), ids,
                self.candidate_tower(self.catalog, training=training),
                self.catalog[self.features.item_key], self.config.temperature)
            return loss + self._all_positions_loss(positions, histories)
        m = self.config.uniform_negatives
        if m:
            rows = tf.random.uniform([m], 0, self._catalog_size(), dtype=tf.int32)
            sampled = {k: tf.gather(v, rows) for k, v in self.catalog.items()}
            candidate_features = {
                k: tf.concat([v, tf.cast(sampled[k], v.dtype)], 0) for k, v in candidate_features.items()}
            ids = tf.concat([ids, tf.cast(tf.reshape(sampled[self.features.item_key], [-1]), ids.dtype)], 0)
        candidates = self.candidate_tower(candidate_features, training=training)
        probability = None
        if self.item_probability is not None:
            probability = sampling_probability(ids, self.item_probability, tf.shape(query)[0], m,
                                               self._catalog_size())
        loss = self.task(query, candidates, compute_metrics=False,
                         candidate_sampling_probability=probability,
                         candidate_ids=ids if self.config.remove_accidental_hits else None)
        return loss + self._all_positions_loss(positions, histories)

    def _all_positions_loss(self, positions: dict, histories: dict) -> tf.Tensor:
        """SASRec's other positions (training only, never exported); 0 when off."""
        loss = tf.constant(0.0)
        for name in self.all_positions:
            history = histories[name]
            loss += self.config.sasrec.all_positions_weight * all_positions_loss(
                positions[name], history >= 0, history, self.embedding.table(name).embeddings,
                self.item_probability)
        return loss
