#!/usr/bin/env python
"""Convert a reference HERO checkpoint (e.g. hero-tv-ht100.pt) to this project's format.

    python scripts/convert_hero_checkpoint.py hero-tv-ht100.pt hero-tv-ht100.project.pt \
        [--model-config config/hero_finetune.json]

Reference key names become project names (Q/K/V fused), fp16 becomes fp32, the ``vocab_padded``
flag and the never-used poolers / pad buffers are dropped (listed). Sizes are read off the weights;
head counts and dropout come from --model-config. The result is checked against the task model it
belongs to (pre-training/VCMR or VideoQA): unknown or missing keys are reported by name and stop
the conversion. The project's loaders also accept reference checkpoints directly.
"""
from __future__ import annotations

import argparse
import sys

import _bootstrap  # noqa: F401  (repository root on sys.path)

from config.loader import ConfigError, load_config, to_dict
from model.config import HeroModelConfig
from model.pretrain import HeroForPretraining
from model.video_qa import HeroForVideoQA
from pretrained.checkpoint_file import CheckpointError, read_weights, save_weights
from pretrained.state_loading import WeightLoadError, config_from_state, load_state_into


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("input", help="reference checkpoint (.pt state dict)")
    parser.add_argument("output", help="project-format checkpoint to write")
    parser.add_argument("--model-config", default="config/hero_finetune.json",
                        help="model JSON giving head counts / dropout (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        base = load_config(HeroModelConfig, args.model_config)
        weights = read_weights(args.input)
    except (ConfigError, CheckpointError) as error:
        sys.exit(f"error: {error}")
    if weights.source_format != "reference":
        sys.exit(f"error: {args.input} is already in the project format")
    state = weights.state_dict
    try:
        config = config_from_state(state, base)
    except KeyError as error:
        sys.exit(f"error: {args.input}: missing key {error} needed to read the model sizes")
    except ValueError as error:
        sys.exit(f"error: {args.input} does not fit --model-config {args.model_config}: {error}")
    model_class = HeroForVideoQA if any(k.startswith("qa_head.") for k in state) else HeroForPretraining
    try:
        report = load_state_into(model_class(config), state, source=args.input, allow_new_heads=False)
    except WeightLoadError as error:
        sys.exit(f"error: {error}")
    save_weights(args.output, state, to_dict(config))
    dropped = weights.conversion.dropped_unused if weights.conversion else []
    print(f"dropped (never used by the reference): {', '.join(dropped) or 'none'}")
    if report.unused:
        print(f"kept but unused by {model_class.__name__}: {', '.join(report.unused)}")
    print(f"wrote {args.output}: {len(state)} tensors for {model_class.__name__} "
          f"(hidden {config.hidden_size}, {config.f_config.num_hidden_layers}+"
          f"{config.c_config.num_hidden_layers} layers, vocab {config.f_config.vocab_size}, "
          f"vfeat {config.vfeat_dim})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
