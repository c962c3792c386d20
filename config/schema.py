"""Typed run configurations. Option names are the reference's, so its JSON files load unchanged.

One dataclass per entry script, sharing the common training options; ``config/loader.py`` turns a
JSON file plus ``--key value`` overrides into an instance, rejecting unknown keys and wrong types.
Runtime facts (rank, world size) never belong here.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass
class WeightOptions:
    """Where a model's architecture and starting weights come from (a section of every run config)."""

    model_config: str = "config/hero_finetune.json"
    checkpoint: str | None = None
    text_init: str | None = None
    skip_layer_loading: bool = False
    frame_position_extension: Literal["none", "tile"] = "none"


@dataclass
class ClipOptions:
    """How clips are cut and tokenised at run time (a section of every run config)."""

    max_clip_len: int = 100
    max_txt_len: int = 60
    sub_ctx_len: int = 0
    vfeat_interval: float = 1.5
    vfeat_version: str = "resnet_slowfast"
    compressed_db: bool = False


@dataclass
class TrainOptions:
    """Options every training script shares (hero-reference.md §6)."""

    model_config: str = field(default="config/hero_finetune.json", metadata={"help": "model JSON (reference layout)"})
    checkpoint: str | None = field(default=None, metadata={
        "help": "weights to start from: a project or reference HERO checkpoint"})
    text_init: str | None = field(default=None, metadata={
        "help": "local Hugging Face BERT/RoBERTa directory to initialise the Cross-modal text side"})
    skip_layer_loading: bool = field(default=False, metadata={
        "help": "with text_init: take every second layer (12 → 6 layers, as the reference)"})
    frame_position_extension: Literal["none", "tile"] = field(default="none", metadata={
        "help": "a checkpoint whose Temporal Transformer frame position table is shorter than max_clip_len: "
                "'tile' extends it (row p >= M copies row p mod M, Longformer's rule); 'none' refuses"})
    output_dir: str = field(default="output/run", metadata={"help": "run folder: log/, ckpt/"})
    train_batch_size: int = field(default=16, metadata={"help": "per-process batch: videos (pre-training) or queries"})
    val_batch_size: int = 20
    gradient_accumulation_steps: int = 1
    learning_rate: float = 3e-5
    valid_steps: int = field(default=1000, metadata={"help": "validate and save the model every N updates"})
    save_steps: int = field(default=500, metadata={"help": "write the resumable training state every N updates"})
    num_train_steps: int = 100000
    warmup_steps: int = 4000
    optim: Literal["adamw", "adam", "adamax"] = "adamw"
    betas: tuple[float, float] = (0.9, 0.98)
    dropout: float = field(default=0.1, metadata={"help": "forced onto every dropout of the model"})
    weight_decay: float = 0.01
    grad_norm: float = field(default=1.0, metadata={"help": "gradient clipping max-norm, -1 = off"})
    lr_mul: float = field(default=1.0, metadata={"help": "learning-rate multiplier of the task heads"})
    seed: int = 42
    n_workers: int = 2
    pin_mem: bool = False
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    fp16: bool = field(default=False, metadata={"help": "reference option: true means precision fp16"})
    backend: Literal["auto", "single", "torch", "horovod"] = field(default="auto", metadata={
        "help": "distributed backend; auto = horovod under horovodrun, torch under torchrun"})
    max_clip_len: int = 100
    max_txt_len: int = 60
    vfeat_version: str = "resnet_slowfast"
    vfeat_interval: float = 1.5
    compressed_db: bool = False
    sub_ctx_len: int = field(default=0, metadata={"help": "previous subtitles prepended to each subtitle"})
    log_steps: int = field(default=10, metadata={"help": "TensorBoard / progress-bar logging interval"})
    keep_checkpoints: int = field(default=0, metadata={"help": "model_step_N.pt files kept (0 = all)"})
    max_dropped_share: float = field(default=0.05, metadata={
        "help": "stop at start when a db or dataset drops more than this share of its videos / queries "
                "(log/data_report.json says what and why; 1 = never stop)"})
    rank: int | None = field(default=None, metadata={"help": "ignored: present in reference configs"})

    def __post_init__(self) -> None:
        if self.fp16:
            self.precision = "fp16"
        for name in ("train_batch_size", "gradient_accumulation_steps", "num_train_steps", "valid_steps",
                     "save_steps", "log_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")
        if self.warmup_steps < 0:
            raise ValueError(f"warmup_steps must be >= 0, got {self.warmup_steps}")
        if not 0 <= self.max_dropped_share <= 1:
            raise ValueError(f"max_dropped_share must be in [0, 1], got {self.max_dropped_share}")


@dataclass
class RetrievalOptions:
    """VSM / VCMR loss options and their schedules (§2.6)."""

    drop_svmr_prob: float = 0.0
    lw_neg_q: float = 0.0
    lw_neg_ctx: float = 0.0
    lw_st_ed: float = 1.0
    ranking_loss_type: Literal["hinge", "lse"] = "hinge"
    margin: float = 0.1
    use_all_neg: bool = False
    hard_pool_size: list[int] = field(default_factory=lambda: [20])
    hard_neg_weights: list[float] = field(default_factory=lambda: [10.0])
    hard_negative_start_step: list[int] = field(default_factory=lambda: [10000], metadata={
        "aliases": ("hard_negtiave_start_step",),
        "help": "step enabling each hard-negative stage (-1 = never)"})
    train_span_start_step: int = field(default=-1, metadata={
        "help": "step from which the span loss is on (-1 = never)"})

    def check_schedules(self) -> None:
        sizes = {len(self.hard_pool_size), len(self.hard_neg_weights), len(self.hard_negative_start_step)}
        if len(sizes) != 1:
            raise ValueError("hard_pool_size, hard_neg_weights and hard_negative_start_step must have "
                             f"the same length, got {len(self.hard_pool_size)}, {len(self.hard_neg_weights)}, "
                             f"{len(self.hard_negative_start_step)}")


@dataclass
class SplitConfig:
    """One split of a pre-training target: its tasks and their sampling ratios."""

    name: str
    tasks: list[str]
    ratio: list[int] | None = None
    train_idx: str | None = field(default=None, metadata={
        "help": "JSON list of training video ids (a relative path is under txt_db)"})
    val_idx: str | None = field(default=None, metadata={
        "help": "JSON list of validation video ids (a relative path is under txt_db)"})


@dataclass
class TargetConfig:
    """A pre-training dataset: a subtitle db, a video db and its splits."""

    name: str
    sub_txt_db: str
    vfeat_db: str
    splits: list[SplitConfig]
    vfeat_interval: float = 1.5
    vfeat_shards: list[str] | None = None


PRETRAIN_TASKS = ("mlm", "mfm-nce", "mffr", "fom", "vsm", "mtc", "lvwm")


@dataclass
class MtcOptions:
    """LF-VILA's multimodal temporal contrast (task ``mtc``); defaults are LF-VILA's (lfvila-snps3.md §1.3)."""

    num_keys: int = field(default=2, metadata={"help": "key subtitle units drawn per video"})
    num_values: int = field(default=2, metadata={"help": "value units drawn per video (candidates of each key)"})
    shifted_videos: int = field(default=3, metadata={"help": "extra negatives: a unit of each of R previous videos"})
    temperature: float = 0.05
    weight: float = field(default=0.25, metadata={"help": "loss weight"})
    text_pooling: Literal["cls", "mean"] = field(default="cls", metadata={
        "help": "subtitle vector: [CLS] state (LF-VILA) or mean of the token states"})


@dataclass
class SignificantWordOptions:
    """SNP-S3's significant-semantics options (lfvila-snps3.md §2.2–2.3): MSSM masking and the LVWM task."""

    mlm_masking: Literal["random", "significant"] = field(default="random", metadata={
        "help": "MLM masks: random (BERT/HERO) or significant (MSSM: significant words first, fixed budget)"})
    significant_words: str | None = field(default=None, metadata={
        "help": "significant-word table (default: significant_words.json inside each target's sub_txt_db; "
                "build it with scripts/mine_significant_words.py)"})
    lvwm_temperature: float = field(default=1.0, metadata={"help": "LVWM word-frame score temperature"})
    lvwm_words: int = field(default=3, metadata={"help": "significant words per LVWM query"})

    def check_significant_words(self) -> None:
        if not self.lvwm_temperature > 0 or self.lvwm_words < 1:
            raise ValueError(f"need lvwm_temperature > 0 and lvwm_words >= 1, got {self.lvwm_temperature}, "
                             f"{self.lvwm_words}")


@dataclass
class PretrainConfig(SignificantWordOptions, RetrievalOptions, TrainOptions):
    """``pretrain.py``: multi-task pre-training (MLM, MFM-NCE, MFFR, FOM, VSM; SNP-S3's LVWM) mixed by ratio."""

    txt_db: str = field(default="", metadata={"help": "folder the targets' sub_txt_db paths are relative to"})
    img_db: str = field(default="", metadata={"help": "folder the targets' vfeat_db paths are relative to"})
    targets: list[TargetConfig] = field(default_factory=list)
    targets_ratio: list[int] | None = None
    mask_prob: float = field(default=0.15, metadata={"help": "MLM/MFM mask probability and FOM reorder ratio"})
    query_per_video: int = field(default=5, metadata={"help": "VSM queries sampled per video"})
    load_partial_pretrained: bool = field(default=False, metadata={
        "help": "reference option: initialise the text side from `checkpoint` (use text_init)"})
    vsm_val_queries: int = field(default=1, metadata={"help": "VSM validation queries per video"})
    mtc: MtcOptions = field(default_factory=MtcOptions, metadata={"help": "options of the mtc task"})
    demo_corpus: str | None = field(default=None, metadata={
        "help": "build the demo corpus into this folder first if it is missing (demo configs)"})

    def __post_init__(self) -> None:
        TrainOptions.__post_init__(self)
        self.check_schedules()
        self.check_significant_words()
        if not self.targets:
            raise ValueError("targets: at least one pre-training target is required")
        for target in self.targets:
            for split in target.splits:
                unknown = [t for t in split.tasks if t not in PRETRAIN_TASKS]
                if unknown:
                    raise ValueError(f"target {target.name} split {split.name}: unknown task(s) {unknown}; "
                                     f"expected some of {list(PRETRAIN_TASKS)}")
                if split.ratio is not None and len(split.ratio) != len(split.tasks):
                    raise ValueError(f"target {target.name} split {split.name}: ratio has {len(split.ratio)} "
                                     f"entries for {len(split.tasks)} tasks")
        if self.targets_ratio is not None and len(self.targets_ratio) != len(self.targets):
            raise ValueError(f"targets_ratio has {len(self.targets_ratio)} entries for {len(self.targets)} targets")


@dataclass
class FinetuneData:
    """The databases of a fine-tuning task (reference option names)."""

    sub_txt_db: str = field(default="", metadata={"help": "subtitle db of the clips"})
    vfeat_db: str = field(default="", metadata={"help": "video feature db of the clips"})
    train_query_txt_db: str = field(default="", metadata={"help": "training query / question db"})
    val_query_txt_db: str | None = None
    test_query_txt_db: str | None = None
    demo_corpus: str | None = field(default=None, metadata={
        "help": "build the demo corpus into this folder first if it is missing (demo configs)"})


@dataclass
class MomentEvalOptions:
    """Corpus moment retrieval evaluation (VCMR / SVMR / VR): batching and decoding (§4.2).

    Shared by every script that runs ``evaluation/vcmr_inference.py`` (``train_vcmr.py``, ``inf_vcmr.py``,
    ``train_vsm.py``).
    """

    vcmr_eval_video_batch_size: int = field(default=40, metadata={"help": "videos per corpus-encoding batch"})
    vcmr_eval_q_batch_size: int = field(default=80, metadata={
        "aliases": ("vcmr_eval_batch_size",), "help": "queries per scoring batch at evaluation"})
    eval_with_query_type: bool = field(default=False, metadata={"help": "also report metrics per TVR query type"})
    max_before_nms: int = 200
    max_after_nms: int = 100
    distributed_eval: bool = field(default=False, metadata={"help": "split evaluation queries across ranks"})
    nms_thd: float = field(default=0.5, metadata={"help": "temporal NMS IoU threshold, -1 = off"})
    q2c_alpha: float = field(default=20.0, metadata={"help": "video score sharpening exp(alpha * s)"})
    max_vcmr_video: int = field(default=100, metadata={"help": "moments are re-ranked in the top-N videos"})
    full_eval_tasks: list[Literal["VCMR", "SVMR", "VR"]] = field(default_factory=lambda: ["VCMR", "SVMR", "VR"])
    min_pred_l: int = field(default=2, metadata={"help": "shortest predicted span, frames"})
    max_pred_l: int = field(default=16, metadata={"help": "predicted spans are shorter than this, frames"})

    def check_decoding(self) -> None:
        if not self.min_pred_l < self.max_pred_l:
            raise ValueError(f"need min_pred_l < max_pred_l, got {self.min_pred_l}, {self.max_pred_l}")


@dataclass
class VcmrConfig(RetrievalOptions, TrainOptions, FinetuneData, MomentEvalOptions):
    """``train_vcmr.py`` / ``inf_vcmr.py``: video corpus moment retrieval (TVR, How2R)."""

    task: Literal["tvr", "how2r"] = "tvr"

    def __post_init__(self) -> None:
        TrainOptions.__post_init__(self)
        self.check_schedules()
        self.check_decoding()


@dataclass
class VideoQaConfig(TrainOptions, FinetuneData):
    """``train_videoQA.py``: TVQA / How2QA with temporal localisation."""

    task: Literal["tvqa", "how2qa"] = "tvqa"
    lw_st_ed: float = field(default=1.0, metadata={"help": "weight of the start/end loss"})


@dataclass
class VsmConfig(RetrievalOptions, TrainOptions, MomentEvalOptions):
    """``train_vsm.py``: adapt HERO to a new corpus of videos with subtitles with the VSM objective alone.

    A fixed, seeded share of each video's subtitles is held out: hidden from every input, used only
    as evaluation queries (subtitle → moment retrieval over the whole corpus, scored like VCMR). The
    visible subtitles are the training queries (``query_per_video`` per video, as VSM pre-training);
    ``train_batch_size`` counts videos.
    """

    sub_txt_db: str = field(default="", metadata={"help": "subtitle db of the corpus"})
    vfeat_db: str = field(default="", metadata={"help": "video feature db of the corpus"})
    demo_corpus: str | None = field(default=None, metadata={
        "help": "build the demo corpus into this folder first if it is missing (demo configs)"})
    query_per_video: int = field(default=5, metadata={"help": "VSM training queries (subtitles) per video"})
    heldout_subtitle_ratio: float = field(default=0.1, metadata={
        "help": "share of each video's subtitles held out as evaluation queries (0 = no evaluation)"})
    heldout_seed: int = field(default=0, metadata={
        "help": "seed of the held-out choice (apart from `seed`: runs with other seeds share the queries)"})
    max_eval_queries: int = field(default=0, metadata={
        "help": "evaluate a fixed subset of at most N held-out subtitles (0 = all; the rest stay hidden)"})

    def __post_init__(self) -> None:
        TrainOptions.__post_init__(self)
        self.check_schedules()
        self.check_decoding()
        if not 0 <= self.heldout_subtitle_ratio < 1:
            raise ValueError(f"heldout_subtitle_ratio must be in [0, 1), got {self.heldout_subtitle_ratio}")
        if self.query_per_video < 1 or self.max_eval_queries < 0:
            raise ValueError(f"need query_per_video >= 1 and max_eval_queries >= 0, got "
                             f"{self.query_per_video}, {self.max_eval_queries}")
        span_on = self.lw_st_ed != 0 and self.train_span_start_step != -1
        if not (span_on or self.lw_neg_ctx or self.lw_neg_q):
            raise ValueError("no VSM loss is on: set lw_neg_ctx / lw_neg_q > 0, or lw_st_ed > 0 with "
                             "train_span_start_step >= 0")
