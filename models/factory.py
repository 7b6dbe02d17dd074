"""Builds a ranker by name from the typed train config: each variant is a thin choice of blocks."""

from __future__ import annotations

import tensorflow as tf

from recsys.models.autoint import AutoIntInteraction
from recsys.models.dcn import DCNInteraction
from recsys.models.din import DINSequencePooling
from recsys.models.esmm import CVRTower, make_ctcvr_task
from recsys.models.fm import DeepFMInteraction
from recsys.models.inputs import FeatureEmbedding, OOVDropout, item_oov_ids
from recsys.models.mmoe import MMoE
from recsys.models.neumf import NeuMFInteraction
from recsys.models.ranking import Ranker, make_task
from recsys.models.wide_deep import DeepMLP, WideLinear
from recsys.config import TrainConfig
from recsys.features import FeatureConfig


def _dcn(train: TrainConfig, features: FeatureConfig, vocab_sizes: dict[str, int]) -> dict:
    """Cross network + deep network (Wang et al. 2021)."""
    return dict(interaction=DCNInteraction(
        num_cross_layers=train.dcn.cross_layers, projection_dim=train.dcn.projection_dim or None,
        deep_layers=tuple(train.deep_layers), structure=train.dcn.structure, dropout=train.dropout))


def _wide_deep(train: TrainConfig, features: FeatureConfig, vocab_sizes: dict[str, int]) -> dict:
    """Wide: a linear model over every id feature and the config's hashed crosses (memorisation);
    deep: an MLP over the embeddings (generalisation). Trained jointly (Cheng et al. 2016)."""
    # Attribute ids, single- or multi-valued (a history of categories too); not the item-id
    # histories, whose memorisation is the shared item embedding's.
    wide_ids = [f.name for f in features.features if f.has_vocabulary
                and not (f.kind == "sequence" and f.vocab_from == features.item_key)]
    wide_ids += [f.bucket_key for f in features.features if f.bucket_key]
    wide_ids += [key for f in features.features for key in f.time_parts]
    wide_ids += [c.name for c in features.crosses]
    return dict(interaction=DeepMLP(tuple(train.deep_layers), train.dropout, name="deep"),
                wide=WideLinear({n: vocab_sizes[n] for n in wide_ids}, name="wide_linear"))


def _din(train: TrainConfig, features: FeatureConfig, vocab_sizes: dict[str, int]) -> dict:
    """Target attention of the candidate over each behaviour sequence (Zhou et al. 2018): each
    sequence is queried by the candidate feature whose vocabulary it shares (``vocab_from``), so
    the clicked items by the item and the clicked categories by the item's category."""
    sequences = [f.name for f in features.features if f.kind == "sequence"]
    if not sequences:
        raise ValueError(f"train.model='din' needs a 'sequence' feature (behaviour history); "
                         f"data set {features.dataset!r} has none")
    targets = {}
    for name in sequences:
        owner = features[name].vocab_from
        if owner is None or features[owner].side != "item":
            raise ValueError(f"din: sequence {name!r} has vocab_from = {owner!r}; expected the "
                             f"vocabulary of a candidate (item-side) feature, e.g. "
                             f"{features.item_key!r}, to compare it with")
        targets[name] = owner
    return dict(sequence_pooling=DINSequencePooling(
                    target_key=targets, sequence_names=sequences,
                    hidden_units=tuple(train.din.attention_units), activation=train.din.activation),
                interaction=DeepMLP(tuple(train.deep_layers), train.dropout, name="deep"))


def _deepfm(train: TrainConfig, features: FeatureConfig, vocab_sizes: dict[str, int]) -> dict:
    """FM second-order term + deep MLP over the shared field embeddings (Guo et al. 2017)."""
    return dict(interaction=DeepFMInteraction(train.deepfm.field_dim or train.embedding_dim,
                                              tuple(train.deep_layers), train.dropout, name="deepfm"))


def _autoint(train: TrainConfig, features: FeatureConfig, vocab_sizes: dict[str, int]) -> dict:
    """Multi-head self-attention over the fields, residual (Song et al. 2019); + deep: AutoInt+."""
    a = train.autoint
    return dict(interaction=AutoIntInteraction(
        a.field_dim or train.embedding_dim, attention_layers=a.attention_layers,
        num_heads=a.num_heads, head_dim=a.head_dim,
        deep_layers=tuple(train.deep_layers) if a.deep else (), dropout=train.dropout, name="autoint"))


def _neumf(train: TrainConfig, features: FeatureConfig, vocab_sizes: dict[str, int]) -> dict:
    """GMF (user * item embeddings) beside an MLP, fused in the head (He et al. 2017)."""
    return dict(interaction=NeuMFInteraction(features.user_key, features.item_key,
                                             tuple(train.deep_layers), train.dropout,
                                             mlp_all_fields=train.neumf.mlp_all_fields, name="neumf"))


BUILDERS = {"dcn": _dcn, "wide_deep": _wide_deep, "din": _din, "deepfm": _deepfm,
            "autoint": _autoint, "neumf": _neumf}


def _id_bias(train: TrainConfig, features: FeatureConfig, vocab_sizes: dict[str, int]):
    """Per-user and per-item biases ``b + b_u + b_i`` added to any model's logit (biased matrix
    factorisation's bias terms): a linear model over the two id features, trained by Adam with
    ``id_bias_l2``. Wide&Deep's wide part holds such weights already; this block is separate."""
    keys = (features.user_key, features.item_key)
    return WideLinear({k: vocab_sizes[k] for k in keys}, l2=train.id_bias_l2, name="id_bias")


def _multitask(train: TrainConfig, features: FeatureConfig, vocab_sizes: dict[str, int]) -> dict:
    """``train.multitask``: the conversion head as the Ranker's aux task, scored through ESMM's
    pCTCVR product; the towers block (or, sharing only the embeddings, a second interaction block
    of the same ranker) says which hidden vector each head reads."""
    mt = train.multitask
    head = dict(aux_task=make_ctcvr_task(), aux_weight=mt.ctcvr_weight, aux_product=True)
    if mt.share == "embeddings":
        if mt.mode != "esmm":
            raise ValueError(f"train.multitask.share='embeddings' with mode={mt.mode!r}; expected "
                             "mode 'esmm' (MMoE's experts read the ranker's hidden vector: share "
                             "'hidden')")
        # The paper's ESMM: the CVR tower is a whole second ranker tower over the shared embeddings.
        return dict(head, aux_interaction=BUILDERS[train.model](train, features, vocab_sizes)["interaction"])
    if mt.mode == "mmoe":
        towers = MMoE(mt.experts, tuple(mt.expert_layers), num_tasks=2,
                      tower_layers=tuple(mt.tower_layers), dropout=train.dropout, name="mmoe")
    else:
        towers = CVRTower(tuple(mt.tower_layers), train.dropout, name="cvr_tower")
    return dict(head, towers=towers)


def build_ranker(train: TrainConfig, features: FeatureConfig, vocab_sizes: dict[str, int]) -> Ranker:
    if train.model not in BUILDERS:
        raise ValueError(f"train.model={train.model!r}; expected one of {sorted(BUILDERS)}")
    label_key = features.label_key(train.label_mode)
    embedding = FeatureEmbedding(features, vocab_sizes, train.embedding_dim, l2=train.embedding_l2,
                                 name="features")
    bias = _id_bias(train, features, vocab_sizes) if train.id_bias else None
    aux = {}
    if train.multitask.mode != "off":
        features.aux_label_key(train.label_mode, train.aux_weight, train.multitask.mode)  # checks
        aux = _multitask(train, features, vocab_sizes)
    elif features.aux_label_key(train.label_mode, train.aux_weight):
        other = "regression" if train.label_mode == "binary" else "binary"
        aux = dict(aux_task=make_task(other), aux_weight=train.aux_weight)
    oov = (OOVDropout(item_oov_ids(features, vocab_sizes), train.oov_dropout, name="oov_dropout")
           if train.oov_dropout else None)
    return Ranker(embedding=embedding, task=make_task(train.label_mode), label_key=label_key,
                  bias=bias, oov_dropout=oov, **aux, **BUILDERS[train.model](train, features, vocab_sizes))
