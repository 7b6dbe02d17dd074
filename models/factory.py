"""Builds a ranker by name from the typed train config: each variant is a thin choice of blocks."""

from __future__ import annotations

from models.dcn import DCNInteraction
from models.inputs import FeatureEmbedding
from models.ranking import Ranker, make_task
from recsys.config import TrainConfig
from recsys.features import FeatureConfig


def _dcn(train: TrainConfig, embedding: FeatureEmbedding) -> dict:
    return dict(interaction=DCNInteraction(
        num_cross_layers=train.cross_layers, projection_dim=train.projection_dim or None,
        deep_layers=tuple(train.deep_layers), structure=train.cross_structure, dropout=train.dropout))


BUILDERS = {"dcn": _dcn}


def build_ranker(train: TrainConfig, features: FeatureConfig, vocab_sizes: dict[str, int]) -> Ranker:
    if train.model not in BUILDERS:
        raise ValueError(f"train.model={train.model!r}; expected one of {sorted(BUILDERS)}")
    label_key = features.label if train.label_mode == "binary" else features.rating
    if label_key is None:
        raise ValueError(f"train.label_mode='regression' needs a rating label; data set "
                         f"{features.dataset!r} has none (its feature config sets no 'rating')")
    embedding = FeatureEmbedding(features, vocab_sizes, train.embedding_dim, name="features")
    return Ranker(embedding=embedding, task=make_task(train.label_mode), label_key=label_key,
                  **BUILDERS[train.model](train, embedding))
