"""KNNBaseline (Koren 2010, "Factor in the neighbors", TKDD) as a Keras layer for the rankers' blend.

The deep rankers leave collaborative signal that a neighbourhood model picks up
(``benchmarks/ranking_headroom.py``: +0.007 AUC when blended on MovieLens-100K), so a ranker can
be blended with one (``TrainConfig.neighbourhood_blend``, ``models/blend.py``). The model is
fitted in closed form on the training ratings and frozen into the layer:

  baseline   b_ui = mu + b_u + b_i, regularised alternating least squares
  item_knn   sum_j s_ij (r_uj - b_uj) / sum_j |s_ij| over the ``neighbours`` items j the user
             rated that are most similar (|s|) to the candidate i
  user_knn   the same over the most similar users v who rated the item
  s          Pearson correlation of the residuals over co-ratings, shrunk by n / (n + shrink)

No library here fits it inside a TF graph (TFRS and Keras have no neighbourhood models), hence the
numpy fit. The tables are dense (users x items residuals, items x items and users x users
similarities): right for catalogs of thousands, refused above ``MAX_DENSE_ENTRIES``; a large
catalog would keep sparse top-k neighbour lists instead.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

keras = tf.keras

MAX_DENSE_ENTRIES = 100_000_000  # 400 MB of float32 tables
OUTPUTS = ("baseline", "item_knn", "user_knn")


def fit_baseline(users, items, ratings, n_users: int, n_items: int, reg_user: float = 5.0,
                 reg_item: float = 10.0, iterations: int = 15):
    """``(mu, b_u [n_users], b_i [n_items])`` by alternating regularised means."""
    mu = float(np.mean(ratings))
    bu, bi = np.zeros(n_users), np.zeros(n_items)
    for _ in range(iterations):
        bi = np.bincount(items, ratings - mu - bu[users], n_items) / (np.bincount(items, minlength=n_items) + reg_item)
        bu = np.bincount(users, ratings - mu - bi[items], n_users) / (np.bincount(users, minlength=n_users) + reg_user)
    return mu, bu, bi


def dense(rows, cols, residual, n_rows: int, n_cols: int) -> tuple[np.ndarray, np.ndarray]:
    """The (rows x cols) residual matrix and its 0/1 mask of observed entries."""
    res, seen = np.zeros((n_rows, n_cols)), np.zeros((n_rows, n_cols))
    res[rows, cols], seen[rows, cols] = residual, 1.0
    return res, seen


def similarities(rows, cols, residual, n_rows: int, n_cols: int, shrink: float = 100.0) -> np.ndarray:
    """Shrunk Pearson correlation between the rows of the (rows x cols) residual matrix."""
    return row_similarities(*dense(rows, cols, residual, n_rows, n_cols), shrink)


def row_similarities(res: np.ndarray, seen: np.ndarray, shrink: float = 100.0) -> np.ndarray:
    """``similarities`` of a dense residual matrix and its mask."""
    norms = (res ** 2) @ seen.T  # sum of row a's squares over the columns it shares with row b
    co = seen @ seen.T
    s = (res @ res.T) / np.sqrt(np.maximum(norms * norms.T, 1e-12)) * co / (co + shrink)
    np.fill_diagonal(s, 0.0)  # a row is not its own neighbour
    return s


def knn(sim: np.ndarray, residuals: np.ndarray, neighbours: int = 40) -> float:
    """Similarity-weighted mean residual over the ``neighbours`` most similar (|s|) neighbours."""
    if len(sim) == 0:
        return 0.0
    top = np.argsort(-np.abs(sim), kind="stable")[:neighbours]
    weight = np.abs(sim[top]).sum()
    return float(sim[top] @ residuals[top] / weight) if weight > 0 else 0.0


def fit(users, items, ratings, n_users: int, n_items: int) -> dict[str, np.ndarray]:
    """The layer's tables from training ratings (ids in ``[0, n_users)`` x ``[0, n_items)``)."""
    entries = n_users * n_items + n_items ** 2 + n_users ** 2
    if entries > MAX_DENSE_ENTRIES:
        raise ValueError(f"neighbourhood_blend: {n_users} users x {n_items} items need {entries:,} "
                         f"dense table entries (at most {MAX_DENSE_ENTRIES:,}); the dense "
                         "KNNBaseline is for catalogs of thousands")
    users, items = np.asarray(users, np.int64), np.asarray(items, np.int64)
    ratings = np.asarray(ratings, np.float64)
    mu, bu, bi = fit_baseline(users, items, ratings, n_users, n_items)
    matrix, rated = dense(users, items, ratings - mu - bu[users] - bi[items], n_users, n_items)
    return {"mu": np.array(mu), "user_bias": bu, "item_bias": bi, "residual": matrix, "rated": rated,
            "item_sim": row_similarities(matrix.T, rated.T), "user_sim": row_similarities(matrix, rated)}


def _top_k_mean(weights: tf.Tensor, residuals: tf.Tensor, k: int) -> tf.Tensor:
    """Per row, sum(w r) / sum(|w|) over the k largest |w| (0 where no weight): ``knn`` batched."""
    k = min(k, int(weights.shape[-1]))
    top = tf.math.top_k(tf.abs(weights), k=k).indices
    w = tf.gather(weights, top, batch_dims=1)
    r = tf.gather(residuals, top, batch_dims=1)
    total = tf.reduce_sum(tf.abs(w), axis=-1)
    return tf.math.divide_no_nan(tf.reduce_sum(w * r, axis=-1), total)


class Neighbourhood(keras.layers.Layer):
    """``[B, 3]`` = (baseline, item_knn, user_knn) for the (user, item) ids of a batch.

    Args:
      tables: ``fit``'s output (frozen: non-trainable weights, saved with the model).
      user_key, item_key: the transformed id features (vocabulary indices; out-of-vocabulary
        ids have no ratings, so they get mu + the other side's bias and no correction).
      neighbours: how many neighbours each correction averages over.
    """

    def __init__(self, tables: dict[str, np.ndarray], user_key: str, item_key: str,
                 neighbours: int = 40, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(trainable=False, **kwargs)
        self.user_key, self.item_key, self.neighbours = user_key, item_key, neighbours
        self.tables = {name: self.add_weight(name=name, shape=np.shape(value), trainable=False,
                                             initializer=keras.initializers.Constant(value))
                       for name, value in tables.items()}

    def call(self, features) -> tf.Tensor:
        t = self.tables
        u = tf.reshape(features[self.user_key], [-1])
        i = tf.reshape(features[self.item_key], [-1])
        baseline = t["mu"] + tf.gather(t["user_bias"], u) + tf.gather(t["item_bias"], i)
        # Item-based: the candidate's similarity to each item the user rated.
        item_knn = _top_k_mean(tf.gather(t["item_sim"], i) * tf.gather(t["rated"], u),
                               tf.gather(t["residual"], u), self.neighbours)
        # User-based: the user's similarity to each user who rated the candidate.
        user_knn = _top_k_mean(tf.gather(t["user_sim"], u) * tf.transpose(tf.gather(t["rated"], i, axis=1)),
                               tf.transpose(tf.gather(t["residual"], i, axis=1)), self.neighbours)
        return tf.stack([baseline, item_knn, user_knn], axis=-1)
