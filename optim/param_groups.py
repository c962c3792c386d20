"""AdamW parameter groups built by name: weight decay except on biases and LayerNorms, and a
learning-rate multiplier (``lr_mul``) for task heads (everything outside the ``hero`` backbone)."""
from __future__ import annotations

from torch import nn

BACKBONE_PREFIX = "hero."


def _no_decay_names(model: nn.Module) -> set[str]:
    names = set()
    for module_name, module in model.named_modules():
        for param_name, _ in module.named_parameters(recurse=False):
            full = f"{module_name}.{param_name}" if module_name else param_name
            if param_name == "bias" or isinstance(module, nn.LayerNorm):
                names.add(full)
    return names


def build_param_groups(model: nn.Module, weight_decay: float, lr_mul: float = 1.0) -> list[dict]:
    """Four groups (head/backbone × decay/no-decay), each carrying its ``lr_scale``.

    Unlike the reference (which decays LayerNorms living inside ``nn.Sequential``), every
    LayerNorm parameter and every bias is excluded from weight decay. Tied parameters appear once.
    """
    no_decay = _no_decay_names(model)
    groups: dict[tuple[bool, bool], list] = {}
    for name, param in model.named_parameters():  # shared (tied) tensors are yielded once
        if not param.requires_grad:
            continue
        is_head = not name.startswith(BACKBONE_PREFIX)
        groups.setdefault((is_head, name in no_decay), []).append(param)
    return [{"params": params, "weight_decay": 0.0 if skip_decay else weight_decay,
             "lr_scale": lr_mul if is_head else 1.0,
             "name": f"{'heads' if is_head else 'backbone'}/{'no_decay' if skip_decay else 'decay'}"}
            for (is_head, skip_decay), params in sorted(groups.items())]
