"""Loading a state dict into a ``HeroFor<Task>`` model with every key accounted for.

Starting a fine-tuning from a pre-training checkpoint leaves the new task's heads uninitialised
(reported) and the pre-training heads unused (reported); anything else that does not match — a
missing backbone weight, an unknown key, a shape difference — is an error naming the keys.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field

import torch
from torch import nn

from model.config import HeroModelConfig

# Top-level module names of every task head; a checkpoint may carry heads the model does not have.
HEAD_PREFIXES = ("mlm_head.", "frame_regression.", "fom_head.", "retrieval.", "qa_head.", "mtc_head.")


class WeightLoadError(ValueError):
    """A state dict does not fit the model."""


@dataclass
class LoadReport:
    """Keys the model initialised itself (new heads) and checkpoint keys it did not use."""

    newly_initialised: list[str] = field(default_factory=list)
    unused: list[str] = field(default_factory=list)

    def summary(self) -> str:
        def heads(keys: list[str]) -> str:
            return ", ".join(sorted({k.split(".")[0] for k in keys})) or "none"
        return f"new heads: {heads(self.newly_initialised)}; unused checkpoint heads: {heads(self.unused)}"


def _is_head(key: str) -> bool:
    return key.startswith(HEAD_PREFIXES)


def load_state_into(model: nn.Module, state: dict[str, torch.Tensor], source: str = "checkpoint",
                    allow_new_heads: bool = True) -> LoadReport:
    """Copy ``state`` into ``model`` (project key names), checking every key and shape.

    Args:
        model: a HERO task model.
        state: project-format state dict (convert reference ones with ``model.reference_keys``).
        source: name used in error messages (the file path).
        allow_new_heads: accept head weights the checkpoint lacks (fine-tuning from pre-training).

    Raises:
        WeightLoadError: missing backbone keys, unknown keys, or shape mismatches, all named.
    """
    expected = model.state_dict()
    report = LoadReport()
    problems: list[str] = []
    for key, value in state.items():
        if key not in expected:
            if _is_head(key):
                report.unused.append(key)
            else:
                close = difflib.get_close_matches(key, list(expected), n=1)
                hint = f" (closest model key: {close[0]})" if close else ""
                problems.append(f"unknown key {key}{hint}")
        elif tuple(value.shape) != tuple(expected[key].shape):
            problems.append(f"{key} has shape {tuple(value.shape)}, "
                            f"the model expects {tuple(expected[key].shape)}")
    for key in expected:
        if key not in state:
            if _is_head(key) and allow_new_heads:
                report.newly_initialised.append(key)
            else:
                problems.append(f"missing key {key}")
    if problems:
        shown = "; ".join(problems[:8]) + (f"; … {len(problems) - 8} more" if len(problems) > 8 else "")
        raise WeightLoadError(f"{source}: weights do not fit {type(model).__name__}: {shown}")
    usable = {k: v for k, v in state.items() if k in expected}
    model.load_state_dict(usable, strict=False)
    return report


def _count_layers(state: dict[str, torch.Tensor], prefix: str) -> int:
    indices = {int(k[len(prefix):].split(".")[0]) for k in state if k.startswith(prefix)}
    return max(indices) + 1 if indices else 0


def config_from_state(state: dict[str, torch.Tensor], base: HeroModelConfig) -> HeroModelConfig:
    """``base`` with every size that the weights determine read off them (project key names).

    Head counts, dropout and eps cannot be read off weights and come from ``base``. This is how a
    reference checkpoint, which carries no config, is loaded with e.g. ``config/hero_finetune.json``
    whatever its feature size or vocabulary.
    """
    from dataclasses import replace

    word = state["hero.cross_modal.text_embeddings.word.weight"]
    hidden = int(word.shape[1])
    f_config = replace(
        base.f_config, hidden_size=hidden, vocab_size=int(word.shape[0]),
        num_hidden_layers=_count_layers(state, "hero.cross_modal.encoder.layers."),
        intermediate_size=int(state["hero.cross_modal.encoder.layers.0.feed_forward.up.weight"].shape[0]),
        max_position_embeddings=int(state["hero.cross_modal.text_embeddings.position.weight"].shape[0]),
        type_vocab_size=int(state["hero.cross_modal.text_embeddings.token_type.weight"].shape[0]))
    c_config = replace(
        base.c_config, hidden_size=hidden,
        num_hidden_layers=_count_layers(state, "hero.temporal.encoder.layers."),
        max_position_embeddings=int(state["hero.temporal.embeddings.position.weight"].shape[0]))
    q_config = replace(base.q_config, hidden_size=hidden, vocab_size=f_config.vocab_size)
    extra = {}
    if "fom_head.mlp.fc2.weight" in state:
        extra["max_clip_len"] = int(state["fom_head.mlp.fc2.weight"].shape[0])
    return replace(base, f_config=f_config, c_config=c_config, q_config=q_config,
                   vfeat_dim=int(state["hero.cross_modal.frame_embeddings.project.weight"].shape[1]),
                   max_frm_seq_len=int(state["hero.cross_modal.frame_embeddings.position.weight"].shape[0]),
                   **extra)
