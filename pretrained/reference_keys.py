"""The one place that knows the reference implementation's parameter names.

Converts state dicts of the reference ``HeroForPretraining`` / ``HeroForVcmr`` / ``HeroForVideoQA``
(e.g. the released ``hero-tv-ht100.pt``: fp16 allowed, a non-tensor ``vocab_padded`` entry) to this
project's names and back (hero-reference.md §5.9). Separate Q/K/V projections become one fused
``qkv``; keys the reference stores but never uses (poolers, ``pad`` buffers) are dropped and listed.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import torch

# (reference prefix, project prefix, rules applied to the rest of the key)
_LAYER_RULES = (("attention.output.dense.", "attention.out."),
                ("attention.output.LayerNorm.", "attention.norm."),
                ("intermediate.dense.", "feed_forward.up."),
                ("output.dense.", "feed_forward.down."),
                ("output.LayerNorm.", "feed_forward.norm."))
_ATTENTION_RULES = (("output.dense.", "out."), ("output.LayerNorm.", "norm."))
_MLP_RULES = (("linear_1.", "fc1."), ("LayerNorm.", "norm."), ("linear_2.", "fc2."))

_PREFIXES: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...] = (
    ("v_encoder.f_encoder.embeddings.word_embeddings.", "hero.cross_modal.text_embeddings.word.", ()),
    ("v_encoder.f_encoder.embeddings.position_embeddings.", "hero.cross_modal.text_embeddings.position.", ()),
    ("v_encoder.f_encoder.embeddings.token_type_embeddings.", "hero.cross_modal.text_embeddings.token_type.", ()),
    ("v_encoder.f_encoder.embeddings.LayerNorm.", "hero.cross_modal.text_embeddings.norm.", ()),
    ("v_encoder.f_encoder.img_embeddings.img_LayerNorm.", "hero.cross_modal.frame_embeddings.feature_norm.", ()),
    ("v_encoder.f_encoder.img_embeddings.img_linear.", "hero.cross_modal.frame_embeddings.project.", ()),
    ("v_encoder.f_encoder.img_embeddings.position_embeddings.", "hero.cross_modal.frame_embeddings.position.", ()),
    ("v_encoder.f_encoder.img_embeddings.mask_embedding.", "hero.cross_modal.frame_embeddings.mask_embedding.", ()),
    ("v_encoder.f_encoder.img_embeddings.LayerNorm.", "hero.cross_modal.frame_embeddings.norm.", ()),
    ("v_encoder.f_encoder.encoder.layer.{i}.", "hero.cross_modal.encoder.layers.{i}.", _LAYER_RULES),
    ("v_encoder.f_encoder.lm_head.dense.", "mlm_head.dense.", ()),
    ("v_encoder.f_encoder.lm_head.LayerNorm.", "mlm_head.norm.", ()),
    ("v_encoder.f_encoder.lm_head.decoder.", "mlm_head.decoder.", ()),
    ("v_encoder.f_encoder.lm_head.bias", "mlm_head.bias", ()),
    ("v_encoder.frame_transform.LayerNorm.", "hero.frame_transform.norm.", ()),
    ("v_encoder.frame_transform.net.1.", "hero.frame_transform.linear.", ()),
    ("v_encoder.mask_embedding.", "hero.clip_mask_embedding.", ()),
    ("v_encoder.c_encoder.embeddings.position_embeddings.", "hero.temporal.embeddings.position.", ()),
    ("v_encoder.c_encoder.embeddings.LayerNorm.", "hero.temporal.embeddings.norm.", ()),
    ("v_encoder.c_encoder.encoder.layer.{i}.", "hero.temporal.encoder.layers.{i}.", _LAYER_RULES),
    ("v_encoder.feat_regress.net.0.", "frame_regression.fc1.", ()),
    ("v_encoder.feat_regress.net.2.", "frame_regression.norm.", ()),
    ("v_encoder.feat_regress.net.3.", "frame_regression.fc2.", ()),
    ("v_encoder.fom_output.", "fom_head.mlp.", _MLP_RULES),
    ("video_query_linear.", "retrieval.span.query_linear.", ()),
    ("video_st_predictor.", "retrieval.span.start_conv.", ()),
    ("video_ed_predictor.", "retrieval.span.end_conv.", ()),
    ("q_feat_attn.query_input_proj.LayerNorm.", "retrieval.query_encoder.input_proj.norm.", ()),
    ("q_feat_attn.query_input_proj.net.1.", "retrieval.query_encoder.input_proj.linear.", ()),
    ("q_feat_attn.query_pos_embed.position_embeddings.", "retrieval.query_encoder.position.position.", ()),
    ("q_feat_attn.query_pos_embed.LayerNorm.", "retrieval.query_encoder.position.norm.", ()),
    ("q_feat_attn.query_self_attention.", "retrieval.query_encoder.self_attention.", _ATTENTION_RULES),
    ("q_feat_attn.modular_vector_mapping.", "retrieval.query_encoder.pooling.", ()),
    ("qa_pool.", "qa_head.answer_pool.", ()),
    ("qa_pred_head.", "qa_head.answer_mlp.", _MLP_RULES),
    ("st_ed_pool.", "qa_head.span_pool.", ()),
    ("st_ed_pred_head.", "qa_head.span_mlp.", _MLP_RULES),
)

# Stored by the reference but never read by any loss or output (hero-reference.md §1.3, §8.2).
_UNUSED = re.compile(r"^(v_encoder\.f_encoder\.pooler\.|v_encoder\.c_encoder\.pooler\.)"
                     r"|(^|\.)pad$|^vocab_padded$")
# Separate Q/K/V projections: inside a layer block ``attention.self.``, in the query encoder ``self.``.
_QKV_REF = re.compile(r"^(?P<base>.*\.)self\.(?P<part>query|key|value)\.(?P<kind>weight|bias)$")
_QKV_ORDER = ("query", "key", "value")


@dataclass
class ConversionReport:
    """What a conversion did: keys dropped as known-unused, and keys it did not recognise."""

    dropped_unused: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)


def _compile(template: str) -> re.Pattern[str]:
    return re.compile("^" + re.escape(template).replace(r"\{i\}", r"(?P<i>\d+)"))


_REF_PATTERNS = [(_compile(ref), proj, rules) for ref, proj, rules in _PREFIXES]
_PROJ_PATTERNS = [(_compile(proj), ref, tuple((b, a) for a, b in rules)) for ref, proj, rules in _PREFIXES]


def _rename(key: str, patterns) -> str | None:
    for pattern, target, rules in patterns:
        match = pattern.match(key)
        if match is None:
            continue
        rest = key[match.end():]
        for old, new in rules:
            if rest.startswith(old):
                rest = new + rest[len(old):]
                break
        return target.replace("{i}", match.groupdict().get("i") or "") + rest
    return None


def _legacy_names(key: str) -> str:
    """Very old checkpoints name LayerNorm parameters gamma/beta."""
    return re.sub(r"\.gamma$", ".weight", re.sub(r"\.beta$", ".bias", key))


def is_reference_state_dict(state: dict) -> bool:
    """True for a state dict in the reference's naming (``v_encoder.…`` keys)."""
    return any(isinstance(k, str) and k.startswith("v_encoder.") for k in state)


def reference_to_project(state: dict) -> tuple[dict[str, torch.Tensor], ConversionReport]:
    """Reference names → project names; fp16 is cast to fp32; Q/K/V are fused."""
    report = ConversionReport()
    converted: dict[str, torch.Tensor] = {}
    qkv_parts: dict[tuple[str, str], dict[str, torch.Tensor]] = {}
    for raw_key, value in state.items():
        key = _legacy_names(raw_key)
        if _UNUSED.search(key):
            report.dropped_unused.append(raw_key)
            continue
        if not isinstance(value, torch.Tensor):
            report.unknown.append(raw_key)
            continue
        value = value.detach().float() if value.is_floating_point() else value.detach()
        qkv = _QKV_REF.match(key)
        if qkv is not None:
            # The block's output projection has a known name; the fused qkv sits beside it.
            fused = _rename(qkv["base"] + "output.dense.weight", _REF_PATTERNS)
            if fused is not None:
                fused_prefix = fused[: -len("out.weight")] + "qkv"
                qkv_parts.setdefault((fused_prefix, qkv["kind"]), {})[qkv["part"]] = value
                continue
        new_key = _rename(key, _REF_PATTERNS)
        if new_key is None:
            report.unknown.append(raw_key)
        else:
            converted[new_key] = value
    for (prefix, kind), parts in qkv_parts.items():
        if set(parts) != set(_QKV_ORDER):
            report.unknown.extend(f"{prefix}.{p}.{kind}" for p in parts)
            continue
        converted[f"{prefix}.{kind}"] = torch.cat([parts[p] for p in _QKV_ORDER], dim=0)
    return converted, report


def project_to_reference(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Project names → reference names (e.g. to run a checkpoint in the original code)."""
    converted: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if ".qkv." in key:
            base, kind = key.rsplit(".qkv.", 1)
            out_key = _rename(f"{base}.out.weight", _PROJ_PATTERNS)
            if out_key is None:
                raise KeyError(f"no reference name for {key}")
            self_prefix = out_key[: -len("output.dense.weight")] + "self."
            for name, part in zip(_QKV_ORDER, value.chunk(3, dim=0)):
                converted[f"{self_prefix}{name}.{kind}"] = part.clone()
            continue
        new_key = _rename(key, _PROJ_PATTERNS)
        if new_key is None:
            raise KeyError(f"no reference name for {key}")
        converted[new_key] = value
    return converted
