"""Initialise HERO's Cross-modal Transformer (text side) from a local Hugging Face BERT / RoBERTa.

The reference starts pre-training from RoBERTa weights (hero-reference.md §5.8, §1.12):

* word embeddings are copied and padded with zero rows up to a multiple of 8 (``pad_vocab``);
* the token-type table becomes a table whose every row is the checkpoint's row 0
  (``init_type_embedding``): HERO reads row 1 for text and frames, RoBERTa only ever trained row 0;
* encoder layers come either from the first N checkpoint layers or, with ``skip_layers``, from every
  ``gap``-th layer ending at the last one (12 → 6: layers 1, 3, 5, 7, 9, 11);
* the LayerNorm eps inside the layers stays at HERO's 1e-12 even for RoBERTa (1e-5): released
  checkpoints were trained that way, so it is kept for parity.

Weights are read from the checkpoint's files (safetensors or ``pytorch_model.bin``, sharded or not)
instead of through ``AutoModel``: a base model class would drop the MLM-head weights we also want.
Only the config goes through ``AutoConfig`` (``local_files_only``, never the network).

This is the one file that knows Hugging Face's parameter names for BERT and RoBERTa.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from model.config import HeroModelConfig, TransformerConfig
from model.embeddings import TOKEN_TYPE
from model.heads.pretrain import MlmHead
from model.hero import HeroModel

# The reference pads the vocabulary to a multiple of 8 (tensor-core friendly matmuls).
VOCAB_MULTIPLE = 8

SUPPORTED_MODEL_TYPES = ("bert", "roberta")

# ---------------------------------------------------------------------------------------------
# Hugging Face parameter names (after the base-model prefix "bert." / "roberta." is stripped).
# ---------------------------------------------------------------------------------------------
_BASE_PREFIX = {"bert": "bert.", "roberta": "roberta."}

_HF_WORD = "embeddings.word_embeddings.weight"
_HF_POSITION = "embeddings.position_embeddings.weight"
_HF_TOKEN_TYPE = "embeddings.token_type_embeddings.weight"
_HF_EMBEDDING_NORM = (("embeddings.LayerNorm.weight", "norm.weight"),
                      ("embeddings.LayerNorm.bias", "norm.bias"))

# Inside ``encoder.layer.{i}.``: HF suffix → suffix inside HERO's ``TransformerLayer``.
_HF_LAYER = (
    ("attention.output.dense.weight", "attention.out.weight"),
    ("attention.output.dense.bias", "attention.out.bias"),
    ("attention.output.LayerNorm.weight", "attention.norm.weight"),
    ("attention.output.LayerNorm.bias", "attention.norm.bias"),
    ("intermediate.dense.weight", "feed_forward.up.weight"),
    ("intermediate.dense.bias", "feed_forward.up.bias"),
    ("output.dense.weight", "feed_forward.down.weight"),
    ("output.dense.bias", "feed_forward.down.bias"),
    ("output.LayerNorm.weight", "feed_forward.norm.weight"),
    ("output.LayerNorm.bias", "feed_forward.norm.bias"),
)
# Separate projections fused into HERO's ``attention.qkv``, concatenated in this order (layers.py).
_HF_QKV_PARTS = ("query", "key", "value")

# MLM head: HF key → MlmHead attribute path. The decoder is not listed: HERO keeps it tied to the
# word embeddings, so copying the word table is enough.
_HF_MLM_HEAD = {
    "bert": (("cls.predictions.transform.dense.weight", "dense.weight"),
             ("cls.predictions.transform.dense.bias", "dense.bias"),
             ("cls.predictions.transform.LayerNorm.weight", "norm.weight"),
             ("cls.predictions.transform.LayerNorm.bias", "norm.bias")),
    "roberta": (("lm_head.dense.weight", "dense.weight"),
                ("lm_head.dense.bias", "dense.bias"),
                ("lm_head.layer_norm.weight", "norm.weight"),
                ("lm_head.layer_norm.bias", "norm.bias")),
}
# The output bias is stored under either name depending on the transformers version (the two are
# the same tied tensor); the first one present is used.
_HF_MLM_BIAS = {
    "bert": ("cls.predictions.bias", "cls.predictions.decoder.bias"),
    "roberta": ("lm_head.bias", "lm_head.decoder.bias"),
}

# Weight files in the order transformers itself prefers them.
_WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json",
                 "pytorch_model.bin", "pytorch_model.bin.index.json")


class TextInitError(ValueError):
    """The checkpoint cannot be loaded into this HERO model (shape, config or file problem)."""


@dataclass
class TextInitReport:
    """What :func:`init_text_from_hf` did.

    Attributes:
        model_type: ``"bert"`` or ``"roberta"``.
        hf_num_layers: encoder layers in the checkpoint.
        skip_layers: whether every ``gap``-th layer was taken (else the first N).
        layer_map: HERO Cross-modal layer index → HF layer index copied into it.
        vocab_size: real vocabulary rows copied from the checkpoint.
        padded_vocab_rows: HERO word-table rows after those, set to zero.
        position_rows: position rows copied (HERO rows beyond keep their initialisation).
        mlm_head_found: the checkpoint has MLM-head weights.
        mlm_head_loaded: they were copied into ``model.mlm_head`` (needs a model with one).
        zeroed_clip_mask_row0: ``hero.clip_mask_embedding`` row 0 was zeroed (reference rule).
        loaded_keys: HERO parameter names written (names as in ``model.state_dict()``).
        unused_hf_keys: checkpoint keys (as stored) that were not copied anywhere.
    """

    model_type: str
    hf_num_layers: int
    skip_layers: bool
    layer_map: dict[int, int]
    vocab_size: int
    padded_vocab_rows: int
    position_rows: int
    mlm_head_found: bool
    mlm_head_loaded: bool
    zeroed_clip_mask_row0: bool
    loaded_keys: list[str] = field(default_factory=list)
    unused_hf_keys: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# Config
# ---------------------------------------------------------------------------------------------
def padded_vocab_size(vocab_size: int, multiple: int = VOCAB_MULTIPLE) -> int:
    """``vocab_size`` rounded up to a multiple of ``multiple`` (50265 → 50272, 30522 → 30528)."""
    return -(-vocab_size // multiple) * multiple


def _load_hf_config(path: str | os.PathLike) -> Any:
    """The checkpoint's ``PretrainedConfig``, read offline; checks HERO can reproduce the model."""
    directory = Path(path)
    if not directory.is_dir():
        raise TextInitError(f"not a Hugging Face checkpoint directory: {directory}")
    # Imported here: transformers is heavy and only this initialisation step needs it.
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(str(directory), local_files_only=True)
    if config.model_type not in SUPPORTED_MODEL_TYPES:
        raise TextInitError(f"{directory}: model_type {config.model_type!r} is not supported "
                            f"(expected one of {SUPPORTED_MODEL_TYPES})")
    # HERO layers always use erf GELU and absolute positions: other variants would load without a
    # shape error yet compute a different function, so refuse them here.
    if config.hidden_act != "gelu":
        raise TextInitError(f"{directory}: hidden_act {config.hidden_act!r} is not supported "
                            "(HERO layers use erf GELU, 'gelu')")
    position_type = getattr(config, "position_embedding_type", "absolute")
    if position_type not in (None, "absolute"):
        raise TextInitError(f"{directory}: position_embedding_type {position_type!r} is not "
                            "supported (HERO uses an absolute position table)")
    return config


def _resized(config: TransformerConfig, hidden_size: int, num_heads: int, **changes: int
             ) -> TransformerConfig:
    return replace(config, hidden_size=hidden_size, num_attention_heads=num_heads, **changes)


def hero_config_for_text_model(path: str | os.PathLike, base: HeroModelConfig) -> HeroModelConfig:
    """A copy of ``base`` whose Transformers have the shapes of the HF checkpoint at ``path``.

    Changed: hidden size and head count of every sub-config; ``f_config`` intermediate size and
    position table; the text vocabulary (``f_config``/``q_config``/``d_config``) padded to a multiple
    of 8, with ``text_vocab_size`` = the real size so MLM ignores the padding rows. ``f_config`` gets at
    least two token types because HERO reads row 1.
    Kept from ``base``: layer counts (HERO uses 6 Cross-modal layers whatever the checkpoint has) and
    ``layer_norm_eps`` (1e-12 inside layers even after RoBERTa init, as in the reference checkpoints).
    """
    hf = _load_hf_config(path)
    hidden, heads = hf.hidden_size, hf.num_attention_heads
    vocab = padded_vocab_size(hf.vocab_size)
    f_config = _resized(base.f_config, hidden, heads, intermediate_size=hf.intermediate_size,
                        max_position_embeddings=hf.max_position_embeddings, vocab_size=vocab,
                        type_vocab_size=max(base.f_config.type_vocab_size, TOKEN_TYPE + 1))
    d_config = base.d_config
    if d_config is not None:
        # The TVC decoder predicts over the same text vocabulary and must share the width.
        d_config = _resized(d_config, hidden, heads, vocab_size=vocab)
    return replace(base, f_config=f_config,
                   c_config=_resized(base.c_config, hidden, heads),
                   q_config=_resized(base.q_config, hidden, heads, vocab_size=vocab),
                   d_config=d_config, text_vocab_size=hf.vocab_size)


# ---------------------------------------------------------------------------------------------
# Weights
# ---------------------------------------------------------------------------------------------
def _load_weight_file(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path), device="cpu")
    return torch.load(path, map_location="cpu", weights_only=True)


def read_hf_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Every tensor stored in a local HF checkpoint directory, under its stored name (CPU)."""
    directory = Path(path)
    for name in _WEIGHT_FILES:
        file = directory / name
        if not file.is_file():
            continue
        if name.endswith(".index.json"):
            shards = sorted(set(json.loads(file.read_text())["weight_map"].values()))
            state: dict[str, torch.Tensor] = {}
            for shard in shards:
                state.update(_load_weight_file(directory / shard))
            return state
        return _load_weight_file(file)
    raise TextInitError(f"{directory}: no weight file found (looked for {', '.join(_WEIGHT_FILES)})")


def _normalised_names(state: dict[str, torch.Tensor], model_type: str) -> dict[str, str]:
    """Normalised name → stored name: base-model prefix stripped, legacy gamma/beta renamed.

    ``BertModel`` stores ``embeddings.…`` while ``BertForMaskedLM`` stores ``bert.embeddings.…``;
    after this both read the same. Head keys (``cls.…``, ``lm_head.…``) are left as they are.
    """
    prefix = _BASE_PREFIX[model_type]
    names: dict[str, str] = {}
    for stored in state:
        name = stored[len(prefix):] if stored.startswith(prefix) else stored
        if name.endswith(".gamma"):
            name = name[: -len("gamma")] + "weight"
        elif name.endswith(".beta"):
            name = name[: -len("beta")] + "bias"
        names[name] = stored
    return names


def select_hf_layers(hf_layers: int, hero_layers: int, skip_layers: bool) -> list[int]:
    """HF layer copied into each HERO layer (index = HERO layer).

    With ``skip_layers``: ``gap = hf_layers // hero_layers`` and layers ``gap−1, 2·gap−1, …`` so
    that the last copied layer is the checkpoint's last (12 → 6: 1, 3, 5, 7, 9, 11). Otherwise the
    first ``hero_layers`` layers.
    """
    if hf_layers < hero_layers:
        raise TextInitError(f"the checkpoint has {hf_layers} encoder layers, fewer than the "
                            f"{hero_layers} Cross-modal layers to initialise")
    if not skip_layers:
        return list(range(hero_layers))
    gap = hf_layers // hero_layers
    return [(i + 1) * gap - 1 for i in range(hero_layers)]


class _Copier:
    """Plans copies of checkpoint tensors into model parameters, checking shapes first.

    Nothing is written until :meth:`commit`, so a mismatch found half-way leaves the model as it was.
    """

    def __init__(self, model: nn.Module, state: dict[str, torch.Tensor], names: dict[str, str]
                 ) -> None:
        self.model = model
        self.state = state
        self.names = names
        self.used: set[str] = set()  # stored HF names
        self.loaded: list[str] = []  # HERO names
        self._pending: list[tuple[torch.Tensor, torch.Tensor, bool]] = []  # (target, value, zero_rest)

    def has(self, hf_name: str) -> bool:
        return hf_name in self.names

    def take(self, hf_name: str) -> tuple[str, torch.Tensor]:
        """(stored name, tensor) of a normalised HF name; marks it used."""
        if hf_name not in self.names:
            raise TextInitError(f"checkpoint has no tensor {hf_name!r}")
        stored = self.names[hf_name]
        self.used.add(stored)
        return stored, self.state[stored]

    def target(self, hero_name: str) -> torch.Tensor:
        return self.model.get_parameter(hero_name).data

    def _write(self, hero_name: str, target: torch.Tensor, value: torch.Tensor,
               zero_rest: bool = False) -> None:
        """Queue ``value`` for the first rows of ``target`` (all of it when the shapes match)."""
        self._pending.append((target, value, zero_rest))
        self.loaded.append(hero_name)

    def commit(self) -> None:
        # copy_ converts dtype and device: checkpoints may be fp16/bf16, models may live on a GPU.
        with torch.no_grad():
            for target, value, zero_rest in self._pending:
                rows = value.shape[0]
                target[:rows].copy_(value)
                if zero_rest:
                    target[rows:].zero_()
        self._pending.clear()

    @staticmethod
    def mismatch(hf_name: str, value: torch.Tensor, hero_name: str, target: torch.Tensor,
                 why: str = "shape mismatch") -> TextInitError:
        return TextInitError(f"{why}: HF {hf_name} {tuple(value.shape)} vs HERO {hero_name} "
                             f"{tuple(target.shape)}")

    def copy(self, hf_name: str, hero_name: str) -> None:
        """Exact copy: shapes must match."""
        hf_name, value = self.take(hf_name)
        target = self.target(hero_name)
        if value.shape != target.shape:
            raise self.mismatch(hf_name, value, hero_name, target)
        self._write(hero_name, target, value)

    def copy_fused(self, hf_names: list[str], hero_name: str) -> None:
        """Concatenate along dim 0 (Q, K, V → fused qkv)."""
        taken = [self.take(name) for name in hf_names]
        target = self.target(hero_name)
        width = target.shape[0] // len(taken)
        for name, part in taken:
            if part.shape != (width, *target.shape[1:]):
                raise self.mismatch(name, part, hero_name, target,
                                    f"shape mismatch (one of {len(taken)} fused parts)")
        self._write(hero_name, target, torch.cat([part for _, part in taken], dim=0))

    def copy_rows(self, hf_name: str, hero_name: str, zero_rest: bool, hint: str) -> int:
        """Copy into the first rows; the remaining rows are zeroed or left as they are."""
        hf_name, value = self.take(hf_name)
        target = self.target(hero_name)
        if value.shape[1:] != target.shape[1:]:
            raise self.mismatch(hf_name, value, hero_name, target)
        if value.shape[0] > target.shape[0]:
            raise self.mismatch(hf_name, value, hero_name, target, f"too few rows ({hint})")
        self._write(hero_name, target, value, zero_rest)
        return value.shape[0]

    def broadcast_row0(self, hf_name: str, hero_name: str) -> None:
        """Every row of the HERO table = row 0 of the checkpoint's (``init_type_embedding``)."""
        hf_name, value = self.take(hf_name)
        target = self.target(hero_name)
        if value.dim() != 2 or value.shape[1:] != target.shape[1:] or target.shape[0] <= TOKEN_TYPE:
            raise self.mismatch(hf_name, value, hero_name, target,
                                f"shape mismatch (HERO needs at least {TOKEN_TYPE + 1} token types)")
        self._write(hero_name, target, value[0].expand_as(target))


def _split_model(model: nn.Module) -> tuple[HeroModel, str]:
    """The backbone and its name prefix inside ``model`` (a task model or a bare HeroModel)."""
    if isinstance(model, HeroModel):
        return model, ""
    hero = getattr(model, "hero", None)
    if not isinstance(hero, HeroModel):
        raise TypeError(f"{type(model).__name__} has no .hero HeroModel")
    return hero, "hero."


def init_text_from_hf(model: nn.Module, path: str | os.PathLike, skip_layers: bool | None = None,
                      *, zero_clip_mask_row0: bool = True) -> TextInitReport:
    """Initialise the Cross-modal Transformer's text side (and MLM head) from a HF checkpoint.

    Args:
        model: a HERO task model with ``.hero`` (and optionally ``.mlm_head``), or a HeroModel.
            Build it from :func:`hero_config_for_text_model` so the shapes fit.
        path: local directory written by ``save_pretrained`` (BERT or RoBERTa, with or without
            an MLM head).
        skip_layers: take every ``gap``-th layer (see :func:`select_hf_layers`). ``None``: True when
            the checkpoint has exactly twice as many layers as the Cross-modal Transformer (the
            reference's 12 → 6), else the first N layers.
        zero_clip_mask_row0: also zero row 0 of ``hero.clip_mask_embedding``, as the reference's
            ``load_partial_pretrained`` does, so unmasked MFM frames get no random offset.

    Returns:
        A :class:`TextInitReport`.

    Raises:
        TextInitError (a ValueError): a shape mismatch (naming the HF key, the HERO key and both
        shapes), a missing tensor, or a checkpoint HERO cannot reproduce.
    """
    hf_config = _load_hf_config(path)
    model_type: str = hf_config.model_type
    hero, prefix = _split_model(model)
    cross = f"{prefix}cross_modal."
    layers = hero.cross_modal.encoder.layers
    if len(layers) and layers[0].attention.num_heads != hf_config.num_attention_heads:
        # Not visible in any shape, yet it changes the function: check it explicitly.
        raise TextInitError(f"num_attention_heads: HF {hf_config.num_attention_heads} vs HERO "
                            f"{layers[0].attention.num_heads}")
    text_vocab = hero.config.text_vocab_size
    if text_vocab is not None and text_vocab != hf_config.vocab_size:
        raise TextInitError(f"text_vocab_size: HF vocab_size {hf_config.vocab_size} vs HERO "
                            f"config.text_vocab_size {text_vocab}")

    state = read_hf_state_dict(path)
    copier = _Copier(model, state, _normalised_names(state, model_type))

    # Embeddings.
    word = f"{cross}text_embeddings.word.weight"
    vocab = copier.copy_rows(_HF_WORD, word, zero_rest=True,
                             hint="HERO vocabulary is smaller than the checkpoint's")
    position_rows = copier.copy_rows(
        _HF_POSITION, f"{cross}text_embeddings.position.weight", zero_rest=False,
        hint="HERO position table is smaller than the checkpoint's; raise "
             "f_config.max_position_embeddings (hero_config_for_text_model does)")
    copier.broadcast_row0(_HF_TOKEN_TYPE, f"{cross}text_embeddings.token_type.weight")
    for hf_name, hero_name in _HF_EMBEDDING_NORM:
        copier.copy(hf_name, f"{cross}text_embeddings.{hero_name}")

    # Encoder layers.
    hf_layers = hf_config.num_hidden_layers
    if skip_layers is None:
        skip_layers = hf_layers == 2 * len(layers)
    selected = select_hf_layers(hf_layers, len(layers), skip_layers)
    for hero_index, hf_index in enumerate(selected):
        source = f"encoder.layer.{hf_index}."
        target = f"{cross}encoder.layers.{hero_index}."
        for kind in ("weight", "bias"):
            copier.copy_fused([f"{source}attention.self.{part}.{kind}" for part in _HF_QKV_PARTS],
                              f"{target}attention.qkv.{kind}")
        for hf_suffix, hero_suffix in _HF_LAYER:
            copier.copy(source + hf_suffix, target + hero_suffix)

    # MLM head (the decoder is the word table, already copied, and stays tied).
    head_keys = _HF_MLM_HEAD[model_type]
    bias_key = next((k for k in _HF_MLM_BIAS[model_type] if copier.has(k)), None)
    present = [copier.has(k) for k, _ in head_keys] + [bias_key is not None]
    if any(present) and not all(present):
        missing = [k for (k, _), ok in zip(head_keys, present) if not ok]
        if bias_key is None:
            missing.append(" or ".join(_HF_MLM_BIAS[model_type]))
        raise TextInitError(f"checkpoint has an incomplete MLM head, missing: {', '.join(missing)}")
    mlm_found = all(present)
    mlm_head = getattr(model, "mlm_head", None)
    mlm_loaded = mlm_found and isinstance(mlm_head, MlmHead)
    if mlm_loaded:
        for hf_name, hero_name in head_keys:
            copier.copy(hf_name, f"mlm_head.{hero_name}")
        assert bias_key is not None
        copier.copy_rows(bias_key, "mlm_head.bias", zero_rest=True,
                         hint="HERO vocabulary is smaller than the checkpoint's")

    copier.commit()  # every shape was checked: only now is the model changed
    if zero_clip_mask_row0:
        with torch.no_grad():
            hero.clip_mask_embedding.weight[0].zero_()

    return TextInitReport(
        model_type=model_type, hf_num_layers=hf_layers, skip_layers=skip_layers,
        layer_map=dict(enumerate(selected)), vocab_size=vocab,
        padded_vocab_rows=copier.target(word).shape[0] - vocab, position_rows=position_rows,
        mlm_head_found=mlm_found, mlm_head_loaded=mlm_loaded,
        zeroed_clip_mask_row0=zero_clip_mask_row0, loaded_keys=copier.loaded,
        unused_hf_keys=sorted(set(state) - copier.used))
