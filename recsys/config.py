"""Typed run configuration: one TOML file (``configs/default.toml``) plus ``--set a.b=value`` overrides.

Sections map one-to-one to dataclasses; an unknown key or a badly typed value is an error that names
the key, the value and what was expected (never silently ignored).
"""

from __future__ import annotations

import dataclasses
import math
import os
import typing
from typing import Annotated, Any, Literal

from recsys.features import LABEL_MODES, FeatureConfig

import recsys

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The shipped configs (default.toml, features/, schemas/): ``configs/`` of a source checkout, else
# the wheel's copy, which pyproject installs as package data at ``recsys/configs/``.
CONFIG_DIR = (os.path.join(recsys.CHECKOUT_ROOT, "configs") if recsys.CHECKOUT_ROOT
              else os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs"))
DEFAULT_CONFIG_PATH = os.path.join(CONFIG_DIR, "default.toml")


@dataclasses.dataclass(frozen=True)
class Bounds:
    """The valid range of a numeric field, declared on its type (``Annotated[int, Bounds(1)]``):
    checked when the config is loaded, so ``train.epochs=-1`` fails at once rather than after the
    retriever has trained for minutes."""

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False  # lo itself is not valid
    hi_open: bool = False

    def holds(self, v: float) -> bool:
        if isinstance(v, float) and not math.isfinite(v):
            return False
        if self.lo is not None and (v <= self.lo if self.lo_open else v < self.lo):
            return False
        return self.hi is None or (v < self.hi if self.hi_open else v <= self.hi)

    def describe(self) -> str:
        lo = None if self.lo is None else f"{'>' if self.lo_open else '>='} {self.lo:g}"
        hi = None if self.hi is None else f"{'<' if self.hi_open else '<='} {self.hi:g}"
        return " and ".join(x for x in (lo, hi) if x) or "finite"


PositiveInt = Annotated[int, Bounds(1)]
NonNegativeInt = Annotated[int, Bounds(0)]
PositiveFloat = Annotated[float, Bounds(0, lo_open=True)]
NonNegativeFloat = Annotated[float, Bounds(0)]
Probability = Annotated[float, Bounds(0, 1)]
UnitInterval = Annotated[float, Bounds(0, 1, hi_open=True)]  # [0, 1): dropout, momentum
Port = Annotated[int, Bounds(1, 65535)]

DATASETS = ("synthetic", "movielens", "movielens_latest")  # data/prepare.py reads each
Dataset = Literal[DATASETS]
# The rankers models/factory.py builds (tests/recsys/test_config.py checks the two agree).
RankerModel = Literal["dcn", "wide_deep", "din", "deepfm", "autoint", "neumf"]
LabelMode = Literal[LABEL_MODES]


@dataclasses.dataclass
class DataConfig:
    dataset: Dataset = "synthetic"  # synthetic | movielens (ml-100k, ml-1m, ml-latest: auto-detected)
    source: str = ""  # MovieLens directory; unused for synthetic
    features: str = ""  # feature config TOML; "" -> <CONFIG_DIR>/features/<dataset>.toml
    # hash (random, stable) | temporal (last eval_fraction of time is eval) | leave_last_out (per
    # user, the last interaction by time is eval, the earlier ones train: the next-item protocol)
    split: Literal["hash", "temporal", "leave_last_out"] = "hash"
    # leave_last_out only: hold out each user's second-to-last interaction and drop the last one,
    # so settings are chosen on a validation part of the training data, never on the test case.
    leave_out_validation: bool = False
    # hash split: 20 buckets, at least one in each split
    eval_fraction: Annotated[float, Bounds(0.025, 0.975, lo_open=True, hi_open=True)] = 0.2
    history_length: NonNegativeInt = 20
    num_shards: PositiveInt = 4
    skip_bad_rows: bool = False
    # synthetic generator size (data/synthetic.py SyntheticConfig)
    num_users: PositiveInt = 2000
    num_items: PositiveInt = 800
    num_events: PositiveInt = 120_000
    seed: int = 7
    # synthetic only: requests come in sessions (a new one after a 30-minute gap) with an intent
    # category, and records carry session_id / session_history (data/sessions.py). Off: the log
    # the README's synthetic figures were measured on.
    sessions: bool = False
    session_intent: NonNegativeFloat = 1.5  # click-logit boost of the session's intent category
    # sessions only: probability that a session's later request finds its intent moved to a
    # neighbouring category (phone -> case -> charger), so a session has an order; 0: one intent
    # per session (a set), the log the README's session figures were measured on
    session_drift: Probability = 0.0


@dataclasses.dataclass
class DCNConfig:
    """``train.model = "dcn"``: the cross network (models/dcn.py)."""

    cross_layers: NonNegativeInt = 2
    projection_dim: NonNegativeInt = 0  # 0: full-rank cross layers; > 0: low-rank U V^T of that rank
    structure: Literal["stacked", "parallel"] = "stacked"


@dataclasses.dataclass
class WideDeepConfig:
    """``train.model = "wide_deep"``: the wide part (models/wide_deep.py)."""

    wide_learning_rate: PositiveFloat = 0.01  # FTRL rate of the wide part


@dataclasses.dataclass
class DINConfig:
    """``train.model = "din"``: the local activation unit (models/din.py)."""

    attention_units: tuple[PositiveInt, ...] = (36,)  # its MLP
    activation: str = "dice"  # dice | sigmoid | relu


@dataclasses.dataclass
class DeepFMConfig:
    """``train.model = "deepfm"``: FM + deep MLP over the shared field embeddings (models/fm.py).
    Its deep part is ``train.deep_layers``; the FM's first-order term is ``train.id_bias``."""

    # The FM's field width; 0: train.embedding_dim. Fields of another width (numeric z-scores,
    # features with their own embedding_dim) are projected to it (models/fields.py).
    field_dim: NonNegativeInt = 0


@dataclasses.dataclass
class AutoIntConfig:
    """``train.model = "autoint"``: self-attention over the fields (models/autoint.py)."""

    attention_layers: PositiveInt = 2
    num_heads: PositiveInt = 2
    head_dim: PositiveInt = 8
    field_dim: NonNegativeInt = 0  # 0: train.embedding_dim (as [train.deepfm])
    deep: bool = True  # AutoInt+: a deep MLP (train.deep_layers) beside the attention


@dataclasses.dataclass
class NeuMFConfig:
    """``train.model = "neumf"``: GMF (user * item) beside an MLP (train.deep_layers) over every
    field (models/neumf.py). Needs equal user and item embedding dims."""

    mlp_all_fields: bool = True  # the MLP reads every field; false: only the user and item vectors


@dataclasses.dataclass
class BlendConfig:
    """``train.neighbourhood_blend``: the ranker blended with KNNBaseline (models/blend.py). Both
    are fitted without every ``holdout_every``-th training example, the 5 blend weights on those,
    then both are refitted on the whole training split (so the ranker trains twice)."""

    neighbours: PositiveInt = 40  # neighbours per item-/user-based correction
    holdout_every: Annotated[int, Bounds(2)] = 10
    steps: PositiveInt = 500  # full-batch Adam steps fitting the blend weights


@dataclasses.dataclass
class MultitaskConfig:
    """``train.multitask``: click (CTR) and post-click conversion (CVR) learnt together, on any
    ranker; the feature config's ``conversion`` label is the second task. Both modes train the CVR
    head through ESMM's product pCTCVR = pCTR * pCVR against the conversion label over all
    impressions (models/esmm.py), never on the clicked subset alone:

    * ``esmm``: the CVR tower (an MLP of ``tower_layers`` and a logit) reads the ranker's hidden
      vector, the CTR logit is the ranker's own (Ma et al. 2018, SIGIR);
    * ``mmoe``: ``experts`` shared expert MLPs over the ranker's hidden vector, one softmax gate and
      one tower per task (models/mmoe.py; Ma et al. 2018, KDD).

    ``share`` (esmm): what the two heads share. ``hidden``: the ranker's whole hidden vector (the
    CVR tower is an MLP over it); ``embeddings``: only the embedding layer, as in the paper, each
    head with a full tower of its own (a second instance of the ranker's interaction block).
    """

    mode: Literal["off", "esmm", "mmoe"] = "off"
    share: Literal["hidden", "embeddings"] = "hidden"  # esmm: hidden vector | embeddings only (paper)
    ctcvr_weight: NonNegativeFloat = 1.0  # loss weight of the CTCVR task (the CTR task's is 1)
    tower_layers: tuple[PositiveInt, ...] = (64,)  # each task tower's MLP (esmm: the CVR tower's)
    experts: Annotated[int, Bounds(2)] = 4  # mmoe: shared experts
    expert_layers: tuple[PositiveInt, ...] = (64,)  # mmoe: each expert's MLP


@dataclasses.dataclass
class TrainConfig:
    """The ranker: options every model shares, then one sub-config per model / option group."""

    model: RankerModel = "dcn"  # ranking model (models/factory.py)
    label_mode: LabelMode = "binary"  # binary (AUC, logloss) | regression (RMSE on the rating)
    aux_weight: NonNegativeFloat = 0.0  # > 0: multi-task, also learn the other label (binary mode: the rating;
    #                          regression: rating >= 4) from the same hidden vector, this loss weight
    epochs: PositiveInt = 3
    batch_size: PositiveInt = 1024
    learning_rate: PositiveFloat = 0.003
    lr_schedule: Literal["constant", "cosine"] = "constant"  # cosine: decays Adam's rate to 0 over all epochs
    embedding_dim: PositiveInt = 16  # default for features without their own embedding_dim
    embedding_l2: NonNegativeFloat = 0.0  # L2 penalty on the embedding tables
    id_bias: bool = False  # add per-user and per-item biases b_u + b_i to the logit (any model)
    id_bias_l2: NonNegativeFloat = 0.0  # L2 penalty on those biases
    deep_layers: tuple[PositiveInt, ...] = (256, 128)
    dropout: UnitInterval = 0.0
    # Share of item ids mapped to an OOV bucket while training (models/inputs.py OOVDropout):
    # trains the "unknown item" prior, so an unseen item scores like an average item with its
    # attributes rather than by an untrained random row. 0.02: each item keeps 98% of its id
    # signal, while the 10 OOV buckets still see ~190 examples each per epoch of the default data.
    oov_dropout: UnitInterval = 0.02
    ema_momentum: UnitInterval = 0.0  # > 0: export an exponential moving average of the weights (Adam's
    #                            use_ema; e.g. 0.99 averages over the last ~100 steps)
    neighbourhood_blend: bool = False  # blend with KNNBaseline; its settings: [train.blend]
    seed: int = 42
    mixed_precision: bool = False
    jit_compile: bool = False
    eval_steps: NonNegativeInt = 0  # 0: whole eval split
    dcn: DCNConfig = dataclasses.field(default_factory=DCNConfig)
    wide_deep: WideDeepConfig = dataclasses.field(default_factory=WideDeepConfig)
    din: DINConfig = dataclasses.field(default_factory=DINConfig)
    deepfm: DeepFMConfig = dataclasses.field(default_factory=DeepFMConfig)
    autoint: AutoIntConfig = dataclasses.field(default_factory=AutoIntConfig)
    neumf: NeuMFConfig = dataclasses.field(default_factory=NeuMFConfig)
    blend: BlendConfig = dataclasses.field(default_factory=BlendConfig)
    multitask: MultitaskConfig = dataclasses.field(default_factory=MultitaskConfig)


# Keys of the flat train config of earlier versions: still accepted (TOML and --set), set here.
RENAMED = {"train": {"cross_layers": "dcn.cross_layers", "projection_dim": "dcn.projection_dim",
                     "cross_structure": "dcn.structure",
                     "wide_learning_rate": "wide_deep.wide_learning_rate",
                     "attention_units": "din.attention_units", "attention_activation": "din.activation",
                     "neighbours": "blend.neighbours", "blend_holdout_every": "blend.holdout_every",
                     "blend_steps": "blend.steps"},
           "pipeline": {"beam_workers": "beam.direct_num_workers",
                        "beam_running_mode": "beam.direct_running_mode"}}
# Keys that left the user config: an error names where they went.
MOVED = {"train": {"shuffle_labels": "testing.shuffle_labels"}}


@dataclasses.dataclass
class TestingConfig:
    """Test-only knobs, not part of a user's run config (never in configs/*.toml)."""

    __test__ = False  # not a pytest test class
    # Train the ranker on randomly permuted labels: a deliberately useless model, to show that the
    # Evaluator's gate refuses it (tests/test_gating_e2e.py).
    shuffle_labels: bool = False


@dataclasses.dataclass
class GRU4RecConfig:
    """``retrieval.sequence_encoder = "gru"``: a GRU over the history (models/gru4rec.py)."""

    dropout: UnitInterval = 0.0  # on the GRU's inputs while training


@dataclasses.dataclass
class SASRecConfig:
    """``retrieval.sequence_encoder = "sasrec"``: causal self-attention blocks over the history
    (models/sasrec.py); the width is the history's embedding size."""

    blocks: PositiveInt = 2
    heads: PositiveInt = 2  # must divide the history's embedding size
    dropout: UnitInterval = 0.2
    # > 0: every older position of the history is also trained to predict the item after it (the
    # paper's all-positions loss, models/next_item_loss.py), added with this weight to the
    # Retrieval loss; 0: only the newest position learns, through the query tower. Training only.
    all_positions_weight: NonNegativeFloat = 0.0


@dataclasses.dataclass
class RetrievalConfig:
    """The two-tower retrieval model (``models/retrieval.py``) trained beside the ranker."""

    enabled: bool = True
    model_name: str = "retriever"  # serving directory name: <serving_dir>/<model_name>/<version>
    epochs: PositiveInt = 10
    batch_size: PositiveInt = 1024
    learning_rate: PositiveFloat = 0.003
    embedding_dim: PositiveInt = 32
    embedding_l2: NonNegativeFloat = 0.0
    tower_layers: tuple[PositiveInt, ...] = (128,)  # hidden layers of both towers
    output_dim: PositiveInt = 64  # query/candidate embedding size
    temperature: PositiveFloat = 0.2  # softmax temperature over L2-normalised embeddings (0.05-0.3 tried)
    logq_correction: bool = True  # subtract log(sampling probability) from the logits
    uniform_negatives: NonNegativeInt = 0  # extra negatives per batch drawn uniformly from the catalogue
    # "in_batch": the batch's other items are the negatives (logQ-corrected; scales to any
    # catalogue) | "catalogue": every catalogue item is a negative of every query, the exact
    # softmax (models/catalogue_loss.py; a [batch, catalogue] product per step: thousands of items).
    negatives: Literal["in_batch", "catalogue"] = "in_batch"
    remove_accidental_hits: bool = True
    top_k: PositiveInt = 100  # how many items the exported index returns
    # 0: the exported index scores the whole catalogue in one [batch, N] product; > 0: in blocks of
    # this many items, merged into a running exact top-K (memory per request O(batch x block)): for
    # catalogues of millions (models/retrieval_export.py).
    index_block_size: NonNegativeInt = 0
    seed: int = 42
    # Share of user, item and history ids sent to an OOV bucket while training (models/inputs.py
    # OOVDropout, as train.oov_dropout for the ranker): a cold user / item then gets a trained
    # "unknown id" row beside its attributes instead of an untrained random one.
    oov_dropout: UnitInterval = 0.02
    # How the query tower reduces each behaviour sequence to one vector: "mean" (masked mean, order
    # ignored) | "gru" (GRU4Rec: a GRU from oldest to newest, its final state) | "sasrec"
    # (causal self-attention, the newest position's output). Settings: [retrieval.gru], [retrieval.sasrec].
    sequence_encoder: Literal["mean", "gru", "sasrec"] = "mean"
    # The sequence features the encoder reads; the other histories keep the masked mean. Empty:
    # every sequence feature of the query tower. ("history" alone runs SASRec a third as often on
    # MovieLens, whose liked/disliked histories are subsets of it; benchmarks/sequence_sweep.py.)
    encoded_sequences: tuple[str, ...] = ()
    # Query-side features the query tower leaves out, e.g. ("user_id",): a per-user embedding can
    # carry a user's taste by itself and leave the history encoder little to learn.
    query_exclude: tuple[str, ...] = ()
    # What the query tower reads: "user" (the user's features and histories plus the request's
    # context) | "session" (anonymous: only the request's context-side features, i.e. the current
    # session's items and the time; needs a context-side sequence such as session_history, which
    # data.sessions = true provides). Session mode's signatures take only those features.
    query: Literal["user", "session"] = "user"
    gru: GRU4RecConfig = dataclasses.field(default_factory=GRU4RecConfig)
    sasrec: SASRecConfig = dataclasses.field(default_factory=SASRecConfig)


@dataclasses.dataclass
class RetrievalEvalConfig:
    """Gate of the retrieval model (``components/retrieval_evaluator.py``)."""

    recall_at_100_lower_bound: Probability = 0.0  # absolute threshold on Recall@100
    recall_at_10_lower_bound: Probability = 0.0
    # Recall@100 must beat the popularity baseline by MORE than this (absolute; a tie fails).
    # 0.01 (one point): above the standard error of each Recall@100 on the default data's 3,659
    # test cases (~0.008), and a sixth of what the default retriever shows (0.400 vs 0.339);
    # ml-100k's lift is 0.34 (0.75 vs 0.41). -1 disables it (tests that are not about the gate).
    min_lift_over_popularity: float = 0.01
    batch_size: PositiveInt = 512
    # Exclude the user's training items from the candidates (a re-watch/re-buy is then never a
    # hit); false: every catalogue item competes, for logs where repeats are the task.
    exclude_seen: bool = True


@dataclasses.dataclass
class EvaluatorConfig:
    auc_lower_bound: Probability = 0.6  # value threshold: below it the model is not blessed
    max_auc_drop: NonNegativeFloat = 0.01  # change threshold against the last blessed model
    # label_mode = "regression": the gate is on RMSE (lower is better) instead of AUC
    max_rmse_rise: NonNegativeFloat = 0.01  # change threshold: RMSE at most this much above the baseline's
    rmse_upper_bound: NonNegativeFloat = 0.0  # value threshold: RMSE above it is not blessed; 0: no bound
    example_count_lower_bound: NonNegativeInt = 1
    # TFMA's own 95% confidence intervals, per slice, per metric and per difference against the
    # baseline: "jackknife" (20 delete-d buckets) or "bootstrap" (20 Poisson resamples); the report
    # calls a slice's difference out only when its interval excludes 0. Off by default: TFMA 0.47
    # resamples in Python and turns the Evaluator's two minutes into fourteen
    # (benchmarks/results/intervals.json), and it fails on a slice that holds a single user
    # (README, "Confidence intervals").
    confidence_intervals: Literal["off", "jackknife", "bootstrap"] = "off"
    # Also require the whole interval of candidate - baseline AUC above 0 (RMSE: below 0), not only
    # the point estimate within max_auc_drop (evaluation/interval_gate.py); needs intervals on.
    gate_on_interval: bool = False
    # "overall": TFMA evaluates the overall slice only. The gate reads only that slice, so the
    # blessing and every overall figure stay the same, but the per-slice report is gone; TFMA's
    # per-example work is per (example, slice), so on the default data this halves the
    # Evaluator's CPU (benchmarks/evaluator_profile.py: 251 -> 112 CPU s). For quick iterations.
    slices: Literal["all", "overall"] = "all"

    def problems(self) -> list[str]:
        """Settings that are each valid but contradict each other."""
        if self.gate_on_interval and self.confidence_intervals == "off":
            return ["config eval.gate_on_interval: true needs TFMA's intervals; expected "
                    "eval.confidence_intervals 'jackknife' or 'bootstrap', got 'off'"]
        return []


@dataclasses.dataclass
class DistributeConfig:
    """How the Trainers (ranker and retriever) spread training over devices and machines
    (``training/distribution.py``). ``auto``: ``multi_worker`` when ``TF_CONFIG`` names more than
    one task, else ``mirrored`` on several GPUs, else TensorFlow's default strategy (CPU or one GPU)."""

    strategy: Literal["auto", "default", "mirrored", "multi_worker"] = "auto"
    # MultiWorkerMirroredStrategy's all-reduce: "auto" lets TF choose (NCCL on GPUs, ring on CPUs).
    communication: Literal["auto", "ring", "nccl"] = "auto"
    # Seconds one all-reduce may wait for the other workers before the step fails with
    # DeadlineExceeded naming the collective; 0: wait for ever (TF's default). A lost or stalled
    # worker otherwise blocks every other worker silently.
    timeout_seconds: NonNegativeFloat = 0.0


BEAM_RUNNERS = ("DirectRunner", "DataflowRunner", "FlinkRunner", "SparkRunner", "DaskRunner")


@dataclasses.dataclass
class BeamConfig:
    """The runner of the pipeline's Beam stages (ExampleGen, StatisticsGen, Transform, Evaluator),
    turned into ``beam_pipeline_args`` by ``pipeline/beam_args.py``, which also checks that each
    runner has what it needs. Default: the DirectRunner, one process per CPU."""

    runner: Literal[BEAM_RUNNERS] = "DirectRunner"
    # "auto": in_memory (one process, 1 worker) for prepared data of at most in_memory_max_rows
    # rows, else multi_processing (pipeline/beam_args.py says what was measured).
    direct_running_mode: Literal["auto", "in_memory", "multi_threading", "multi_processing"] = "multi_processing"
    direct_num_workers: NonNegativeInt = 0  # 0: number of CPUs
    in_memory_max_rows: NonNegativeInt = 150_000  # direct_running_mode = "auto" only
    project: str = ""  # DataflowRunner: GCP project
    region: str = ""  # DataflowRunner: e.g. europe-west1
    temp_location: str = ""  # DataflowRunner: gs:// staging and temp files
    flink_master: str = ""  # FlinkRunner: host:port of the JobManager; "" -> an embedded local cluster
    spark_master_url: str = ""  # SparkRunner: spark://host:port; "" -> Beam's local[4]
    dask_client_address: str = ""  # DaskRunner: host:port of a dask.distributed scheduler
    # Where portable runners (Flink, Spark) run the Python SDK workers: DOCKER (Beam's SDK image,
    # the default of those runners), PROCESS, EXTERNAL (a worker pool at environment_config) or
    # LOOPBACK (this process; for a local cluster only). "" -> the runner's default.
    environment_type: Literal["", "DOCKER", "PROCESS", "EXTERNAL", "LOOPBACK"] = ""
    environment_config: str = ""  # DOCKER: the image; PROCESS: JSON command; EXTERNAL: host:port
    extra_args: tuple[str, ...] = ()  # further --flags, passed through unchanged


@dataclasses.dataclass
class MetadataConfig:
    """Where ML Metadata lives: SQLite under ``pipeline.output_dir`` (default), or a MySQL server
    shared by runs on several machines (``pipeline/metadata_config.py``). The password is never in
    the config: it is read from the environment variable ``password_env`` names."""

    backend: Literal["sqlite", "mysql"] = "sqlite"
    host: str = ""  # mysql
    port: Port = 3306
    database: str = ""
    user: str = ""
    password_env: str = "RECSYS_MLMD_PASSWORD"


@dataclasses.dataclass
class PipelineConfig:
    name: str = "recsys"
    output_dir: str = "runs"  # pipeline root, MLMD SQLite and serving dir live under it
    serving_dir: str = ""  # "" -> <output_dir>/serving
    model_name: str = "ranker"
    enable_cache: bool = True
    # Transform's own TFDV statistics of its input and output (pre/post_transform_stats, schema
    # and anomalies). Off: nothing here reads them, the input's are StatisticsGen's again, and
    # they were about a quarter of Transform's CPU (README "Pipeline"). On: for inspecting what the
    # preprocessing_fn made of each feature (e.g. in TFDV's viewer).
    transform_statistics: bool = False
    # StatisticsGen's top-k values and unique counts from bounded sketches (TFDV's Misra-Gries and
    # KMV: exact up to 1,024 / 16,384 distinct values a feature, estimates beyond) instead of exact
    # counts, which group every distinct value of every string feature, so the DirectRunner's
    # memory grew with the rows and the ids (README "Scale"). TFDV's own TODO makes it the default.
    statistics_sketches: bool = True
    beam: BeamConfig = dataclasses.field(default_factory=BeamConfig)
    metadata: MetadataConfig = dataclasses.field(default_factory=MetadataConfig)


@dataclasses.dataclass
class ServingConfig:
    """``recsys serve``: the TF Serving-compatible model server and the /v1/recommend service
    (``serving/``). Production runs real TF Serving with the same models.config."""

    host: str = "127.0.0.1"  # bind address; anything else exposes the models beyond this machine
    port: Port = 8501  # model server: TF Serving's REST port
    recommend_port: Annotated[int, Bounds(0, 65535)] = 8502  # /v1/recommend service; 0: not started
    model_server_url: str = ""  # where /v1/recommend finds TF Serving; "" -> http://host:port
    model_config: str = ""  # a TF Serving models.config; "" -> generated from the deployment record
    poll_seconds: PositiveFloat = 2.0  # how often the serving directory is scanned for new versions
    experiment: str = "ranker-ab"  # salt of the A/B hash: a new name reshuffles users
    canary_share: Probability = 0.0  # share of users whose requests go to the `canary` version label
    candidates: PositiveInt = 100  # retrieval top-N handed to the ranker
    max_k: PositiveInt = 100  # largest k a /v1/recommend request may ask for
    max_batch: PositiveInt = 1000  # largest batch (instances / examples) of one :predict request
    max_body_bytes: PositiveInt = 4 * 1024 * 1024  # larger request bodies get 413
    # Requests in flight per server; beyond it, an immediate 503 instead of a queue that grows
    # until every request times out (measured: 50 req/s on starved cores collapsed into timeouts).
    max_concurrency: PositiveInt = 64


@dataclasses.dataclass
class Config:
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    eval: EvaluatorConfig = dataclasses.field(default_factory=EvaluatorConfig)
    retrieval: RetrievalConfig = dataclasses.field(default_factory=RetrievalConfig)
    retrieval_eval: RetrievalEvalConfig = dataclasses.field(default_factory=RetrievalEvalConfig)
    pipeline: PipelineConfig = dataclasses.field(default_factory=PipelineConfig)
    serving: ServingConfig = dataclasses.field(default_factory=ServingConfig)
    distribute: DistributeConfig = dataclasses.field(default_factory=DistributeConfig)
    testing: TestingConfig = dataclasses.field(default_factory=TestingConfig)

    @property
    def features_path(self) -> str:
        if self.data.features:
            return self.data.features
        name = self.data.dataset
        if self.data.sessions and name == "synthetic":  # the log then carries session features
            name = "synthetic_sessions"
        return os.path.join(CONFIG_DIR, "features", f"{name}.toml")

    @property
    def serving_dir(self) -> str:
        return self.pipeline.serving_dir or os.path.join(self.pipeline.output_dir, "serving")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def config_from_json(cls, values: dict):
    """A config dataclass from TFX custom_config JSON (``dataclasses.asdict``): nested sub-configs
    rebuilt, lists back to tuples."""
    hints = typing.get_type_hints(cls)
    out = {}
    for k, v in values.items():
        if dataclasses.is_dataclass(hints.get(k)) and isinstance(v, dict):
            v = config_from_json(hints[k], v)
        out[k] = tuple(v) if isinstance(v, list) else v
    return cls(**out)


SECTIONS = "data, train, eval, retrieval, retrieval_eval, pipeline, serving, distribute, testing"


class ConfigError(ValueError):
    """Everything wrong with a config, one line per bad key (its value and what was expected), so
    a user fixes them all at once rather than one failed run at a time."""

    def __init__(self, problems: list[str], source: str = ""):
        self.problems = list(problems)
        where = f" in {source}" if source else ""
        if len(problems) == 1:
            super().__init__(problems[0] + (f" ({source})" if source else ""))
        else:
            super().__init__(f"{len(problems)} problems{where}:\n  " + "\n  ".join(problems))


def _expected(typ: Any) -> str:
    """What a value of type ``typ`` must be, in words."""
    origin = typing.get_origin(typ)
    if origin is Annotated:
        base, *extras = typing.get_args(typ)
        bounds = [b.describe() for b in extras if isinstance(b, Bounds)]
        return f"{_expected(base)} {' and '.join(bounds)}".strip()
    if origin is Literal:
        return "one of " + ", ".join(map(repr, typing.get_args(typ)))
    if origin is tuple:
        return f"a comma-separated list, each {_expected(typing.get_args(typ)[0])}"
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(
        typ, getattr(typ, "__name__", str(typ)))


def _coerce(key: str, value: Any, typ: Any) -> Any:
    """``value`` (TOML or a ``--set`` string) as ``typ``, or ValueError naming key, value and type.
    Ranges (``Bounds``) and choices (``Literal``) are checked here too."""
    origin = typing.get_origin(typ)
    bad = ValueError(f"config {key}: {value!r}; expected {_expected(typ)}")
    if origin is Annotated:
        base, *extras = typing.get_args(typ)
        try:
            v = _coerce(key, value, base)
        except ValueError:
            raise bad from None
        if not all(b.holds(v) for b in extras if isinstance(b, Bounds)):
            raise bad
        return v
    if origin is Literal:
        if value not in typing.get_args(typ):
            raise bad
        return value
    if origin is tuple:
        (inner, *_rest) = typing.get_args(typ)
        if isinstance(value, str):
            value = [v for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"config {key}: {value!r}; expected a list")
        try:
            return tuple(_coerce(key, v, inner) for v in value)
        except ValueError:
            raise bad from None
    try:
        if typ is bool:
            if isinstance(value, str):
                if value.lower() not in ("true", "false", "1", "0"):
                    raise ValueError
                return value.lower() in ("true", "1")
            if not isinstance(value, bool):
                raise ValueError
            return value
        if typ is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(value)
        if typ is float:
            if isinstance(value, bool) or not math.isfinite(float(value)):
                raise ValueError
            return float(value)
        if typ is str:
            return str(value)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"config {key}: {value!r}; expected {_expected(typ)}") from None
    return value


def _apply(section_obj: Any, section: str, values: dict[str, Any], problems: list[str]) -> None:
    """Sets ``values`` on a config section; a dotted key or a table sets a sub-config
    (``dcn.cross_layers=3``, TOML ``[train.dcn]``). Each bad key adds a line to ``problems`` and
    the others are still set, so one error can list them all."""
    hints = typing.get_type_hints(type(section_obj), include_extras=True)
    top = section.partition(".")[0]
    for k, v in values.items():
        if section == top and k in MOVED.get(top, {}):
            problems.append(f"config {section}.{k} is now {MOVED[top][k]} (a test-only knob, not "
                            "part of the run config)")
            continue
        if section == top and k in RENAMED.get(top, {}):
            k = RENAMED[top][k]
        head, dot, rest = k.partition(".")
        if head not in hints:
            problems.append(f"config [{section}]: unknown key {head!r}; expected one of {sorted(hints)}")
            continue
        if dataclasses.is_dataclass(hints[head]):
            if dot:
                _apply(getattr(section_obj, head), f"{section}.{head}", {rest: v}, problems)
            elif isinstance(v, dict):
                _apply(getattr(section_obj, head), f"{section}.{head}", v, problems)
            else:
                problems.append(f"config {section}.{head}: {v!r}; expected a table of "
                                f"{sorted(typing.get_type_hints(hints[head]))}")
            continue
        if dot:
            problems.append(f"config [{section}]: {head!r} has no keys ({k!r})")
            continue
        try:
            setattr(section_obj, head, _coerce(f"{section}.{head}", v, hints[head]))
        except ValueError as e:
            problems.append(str(e))


def load_config(path: str | None = None, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Defaults <- TOML file <- ``section.key=value`` overrides. Every key is checked (type, range,
    choices) before this returns; ``ConfigError`` lists every bad one."""
    cfg = Config()
    problems: list[str] = []
    if path:
        import tomli

        with open(path, "rb") as fh:
            try:
                doc = tomli.load(fh)
            except tomli.TOMLDecodeError as e:
                raise ConfigError([f"{path}: not valid TOML: {e}"]) from None
        for section, values in doc.items():
            if not hasattr(cfg, section) or not isinstance(values, dict):
                problems.append(f"{path}: unknown section [{section}]; expected {SECTIONS}")
                continue
            _apply(getattr(cfg, section), section, values, problems)
    for item in overrides:
        key, sep, value = item.partition("=")
        section, dot, name = key.strip().partition(".")
        if not sep or not dot or not hasattr(cfg, section):
            problems.append(f"override {item!r}: expected section.key=value, section one of "
                            f"{SECTIONS}")
            continue
        _apply(getattr(cfg, section), section, {name: value.strip()}, problems)
    problems += cfg.eval.problems()
    if problems:
        raise ConfigError(problems)
    return cfg


def check_run_inputs(config: Config) -> FeatureConfig:
    """The files a run or ``prepare`` reads, checked before any work starts: the data source, the
    feature config (loaded, so a bad entry is named now) and its curated schema. Returns the loaded
    feature config; raises ``ConfigError`` listing every missing or bad one."""
    problems = []
    d = config.data
    if d.dataset != "synthetic":
        if not d.source:
            problems.append(f"config data.source: ''; expected the {d.dataset} directory "
                            "(e.g. --set data.source=../shared/data/ml-100k)")
        elif not os.path.isdir(d.source):
            problems.append(f"config data.source: {d.source!r}; expected an existing directory")
    if d.sessions and d.dataset != "synthetic":
        problems.append(f"config data.sessions: true with data.dataset = {d.dataset!r}; expected "
                        "data.dataset = 'synthetic' (only the generator makes sessions)")
    features = None
    path = config.features_path
    if not os.path.isfile(path):
        problems.append(f"config data.features: {path!r}; expected an existing feature config "
                        f"(configs/features/*.toml)")
    else:
        try:
            features = FeatureConfig.load(path)
        except ValueError as e:
            problems.append(f"config data.features: {path!r}: {e}")
    if features is not None:
        schema = schema_path(features.dataset)
        if not os.path.isfile(schema):
            problems.append(f"feature config {path!r} (dataset {features.dataset!r}): no curated "
                            f"schema at {schema}; expected one (scripts/curate_schema.py)")
    if config.serving.model_config and not os.path.isfile(config.serving.model_config):
        problems.append(f"config serving.model_config: {config.serving.model_config!r}; expected "
                        "an existing TF Serving models.config")
    if problems:
        raise ConfigError(problems)
    return features


def schema_path(dataset: str) -> str:
    """The curated schema of a feature config's ``dataset`` (``configs/schemas/<dataset>.pbtxt``)."""
    return os.path.join(CONFIG_DIR, "schemas", f"{dataset}.pbtxt")
