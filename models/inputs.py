"""Model inputs derived from the feature config: one embedding table per vocabulary.

``FeatureEmbedding`` maps the Transform output to per-feature vectors:
  categorical / numeric bucket  -> [B, d]
  multi_categorical             -> [B, d]   (masked mean over the values)
  sequence                      -> [B, L, d] plus a [B, L] mask (pooled by the model's
                                   sequence block: mean for DCN, target attention for DIN)
  numeric                       -> [B, 1]   (the z-score)
  match_of share                -> [B, 1]   (only when both features are among ``names``: it
                                   reads the user and the item side, so a retrieval tower has none)
  time                          -> [B, d] per part (hour of day, day of week)
  cross with ``embed = true``   -> [B, d]   (its hash bucket's row; only when every crossed
                                   feature is among ``names``, and never with ``crosses=False``:
                                   a retrieval tower, which sees one side, has none)
A ``sequence`` with ``vocab_from`` shares the owner's table, so a history item and the candidate
item live in one embedding space (what DIN's attention compares).

``OOVDropout`` trains the out-of-vocabulary rows (see its docstring): an unseen item gets a
learned "unknown item" prior instead of an untrained random row.
"""

from __future__ import annotations

import tensorflow as tf

from recsys.features import FeatureConfig

keras = tf.keras


def masked_mean(values: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
    """Mean over axis 1 of ``values`` [B, L, d] where ``mask`` [B, L]; zeros for an empty row."""
    m = tf.cast(mask, values.dtype)[..., None]
    return tf.reduce_sum(values * m, axis=1) / tf.maximum(tf.reduce_sum(m, axis=1), 1.0)


def concat_fields(fields: dict[str, tf.Tensor], dtype=tf.float32) -> tf.Tensor:
    """The field vectors {name: [B, w]} as one [B, sum w], in sorted-name order (the Ranker's x)."""
    return tf.concat([tf.cast(fields[k], dtype) for k in sorted(fields)], axis=-1)


class FeatureEmbedding(keras.layers.Layer):
    """Embeds every feature of ``config`` given the vocabulary sizes Transform computed."""

    def __init__(self, config: FeatureConfig, vocab_sizes: dict[str, int], embedding_dim: int,
                 l2: float = 0.0, crosses: bool = True, **kwargs):
        super().__init__(**kwargs)
        self._config = config
        # The embedded crosses (``FeatureCross.embed``); ``crosses=False``: none, and no table.
        self._crosses = config.embedded_crosses if crosses else ()
        self._tables: dict[str, keras.layers.Embedding] = {}
        for f in config.features:
            dim = f.embedding_dim or embedding_dim
            for key in f.time_parts:
                self._tables[key] = self._embedding(vocab_sizes[key], dim, l2, key)
            if f.kind == "time":
                continue
            if f.kind == "numeric":
                if f.bucket_key:
                    self._tables[f.bucket_key] = self._embedding(vocab_sizes[f.bucket_key], dim, l2,
                                                                 f.bucket_key)
                continue
            if f.vocab_from:
                continue  # shares the owner's table, created with the owner
            self._tables[f.name] = self._embedding(vocab_sizes[f.name], dim, l2, f.name)
        for cross in self._crosses:
            self._tables[cross.name] = self._embedding(
                vocab_sizes[cross.name], embedding_dim, l2 if cross.l2 is None else cross.l2, cross.name)
        # Keras tracks layers assigned as attributes; a dict of them is tracked too.
        self.tables = self._tables

    @staticmethod
    def _embedding(rows: int, dim: int, l2: float, name: str) -> keras.layers.Embedding:
        # Id tables memorise fast (one row per user/item); L2 is what keeps them from overfitting.
        reg = keras.regularizers.L2(l2) if l2 else None
        return keras.layers.Embedding(rows, dim, embeddings_regularizer=reg, name=f"emb_{name}")

    def table(self, feature_name: str) -> keras.layers.Embedding:
        f = self._config[feature_name]
        return self._tables[f.vocab_from or f.name]

    def call(self, inputs: dict[str, tf.Tensor], names: tuple[str, ...] | None = None):
        """Returns ``(vectors, sequences)``: name -> [B, d] (or [B, 1]) and
        name -> ``{"values": [B, L, d], "mask": [B, L]}`` (plain dicts: Keras nests them).

        ``names`` restricts to those features (a retrieval tower embeds only its own side, while
        both towers share the tables: a history item and a candidate item are one vector)."""
        vectors: dict[str, tf.Tensor] = {}
        sequences: dict[str, dict[str, tf.Tensor]] = {}
        for f in self._config.features:
            if names is not None and f.name not in names:
                continue
            if f.kind == "time":
                for key in f.time_parts:
                    vectors[key] = self._tables[key](tf.reshape(inputs[key], [-1]))
                continue
            if f.kind == "numeric":
                vectors[f.name] = tf.reshape(tf.cast(inputs[f.name], tf.float32), [-1, 1])
                if f.bucket_key:
                    key = f.bucket_key
                    vectors[key] = self._tables[key](tf.reshape(inputs[key], [-1]))
                continue
            ids = inputs[f.name]
            if f.match_of and (names is None or f.match_of in names):
                vectors[f.match_key] = tf.reshape(tf.cast(inputs[f.match_key], tf.float32), [-1, 1])
            if f.kind == "categorical":
                vectors[f.name] = self.table(f.name)(tf.reshape(ids, [-1]))
                continue
            mask = ids >= 0
            emb = self.table(f.name)(tf.maximum(ids, 0))  # pads (-1) look up row 0, then masked
            if f.kind == "sequence":
                sequences[f.name] = {"values": emb, "mask": mask}
            else:
                vectors[f.name] = masked_mean(emb, mask)
        for cross in self._crosses:
            if names is None or set(cross.features) <= set(names):
                vectors[cross.name] = self._tables[cross.name](tf.reshape(inputs[cross.name], [-1]))
        return vectors, sequences


class OOVDropout(keras.layers.Layer):
    """While training, replaces each id of the ``ids`` features by an OOV bucket id with
    probability ``rate``, so the OOV rows learn what to predict for an item nobody has seen.

    Why: the item vocabulary holds every training item, so no training example ever maps to its
    OOV buckets; their embedding rows (and wide/bias weights) kept their random initial values,
    and the model scored an unseen item id far above a typical known item (0.34 vs 0.07 for the
    same user; a new item would top every list). Dropping a random ``rate`` of the ids into the
    buckets -- the item's other features (category, brand, price) stay -- trains every block that
    reads the ids (embedding table, Wide&Deep's wide part, the id biases) on a sample of ordinary
    traffic, so an unseen item is scored like an average item with its attributes: a learned
    prior, fitted by the same loss. Serving is unchanged: Transform already hashes unseen values
    into the same buckets (``apply_vocabulary(num_oov_buckets=...)``).

    Args:
      ids: transformed id feature -> (known ids V, OOV buckets): ids in [0, V) are vocabulary
        entries, [V, V + buckets) the OOV buckets; a dropped id ``i`` becomes ``V + i mod buckets``
        (every bucket is trained). Pads (< 0, in sequences) stay pads.
      rate: share of ids dropped per training batch.
    """

    def __init__(self, ids: dict[str, tuple[int, int]], rate: float, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"OOVDropout: rate = {rate!r}; expected 0 <= rate < 1")
        bad = {k: v for k, v in ids.items() if v[0] < 0 or v[1] < 1}
        if bad:
            raise ValueError(f"OOVDropout: (known ids, OOV buckets) must be (>= 0, >= 1); got {bad}")
        self.ids = {k: (int(v[0]), int(v[1])) for k, v in ids.items()}
        self.rate = float(rate)

    def call(self, features: dict[str, tf.Tensor], training: bool = False) -> dict[str, tf.Tensor]:
        if not training or not self.rate:
            return features
        out = dict(features)
        for name, (known, buckets) in self.ids.items():
            ids = features[name]
            # No op seed: ``train.seed`` seeds TensorFlow globally, and equal op seeds would
            # correlate the masks of the item and its history.
            drop = tf.random.uniform(tf.shape(ids)) < self.rate
            oov = tf.cast(known, ids.dtype) + tf.math.floormod(ids, tf.cast(buckets, ids.dtype))
            out[name] = tf.where(drop & (ids >= 0) & (ids < known), oov, ids)
        return out


def vocabulary_oov_ids(config: FeatureConfig, vocab_sizes: dict[str, int], key: str
                       ) -> dict[str, tuple[int, int]]:
    """``OOVDropout``'s ids for feature ``key``'s vocabulary: ``key`` and every feature sharing
    its vocabulary (the item's behaviour history), each as (known ids, OOV buckets)."""
    owner = config[key]
    known = vocab_sizes[owner.name] - owner.num_oov_buckets
    return {f.name: (known, owner.num_oov_buckets) for f in config.features
            if f.name == owner.name or f.vocab_from == owner.name}


def item_oov_ids(config: FeatureConfig, vocab_sizes: dict[str, int]) -> dict[str, tuple[int, int]]:
    """``OOVDropout``'s ids for the item vocabulary (the item key and the histories)."""
    return vocabulary_oov_ids(config, vocab_sizes, config.item_key)


def id_oov_ids(config: FeatureConfig, vocab_sizes: dict[str, int]) -> dict[str, tuple[int, int]]:
    """``OOVDropout``'s ids for the user and the item vocabularies: a cold user's id is as
    unseen as a cold item's, and its OOV rows need the same trained prior."""
    return {**vocabulary_oov_ids(config, vocab_sizes, config.user_key), **item_oov_ids(config, vocab_sizes)}
