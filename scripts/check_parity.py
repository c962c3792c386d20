#!/usr/bin/env python
"""Check numerical parity with the reference HERO implementation.

Loads a fixture of reference outputs (format: shared/fixtures/README.md), converts its reference
state dicts with the project's converter, builds every head's inputs with the project's collation,
runs the models in eval mode and prints the max absolute difference per output.
Exit status 0 only if every difference is <= 1e-5.

    python scripts/check_parity.py --fixture ../shared/fixtures/hero_reference_parity.pt
"""
from __future__ import annotations

import argparse
import sys

import _bootstrap  # noqa: F401  (repository root on sys.path)
import torch

from devtools.parity import TOLERANCE, Comparison, compare


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fixture", required=True, help="path of a hero_reference_parity.pt-style file")
    args = parser.parse_args(argv)
    try:
        fixture = torch.load(args.fixture, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        sys.exit(f"error: fixture not found: {args.fixture}")
    torch.manual_seed(0)

    def show(result: Comparison) -> None:
        verdict = "ok" if result.ok else "FAIL"
        print(f"{result.name:<22} max|diff| {result.max_abs_diff:.3e}  {str(result.shape):<14} {verdict}")

    try:
        results = compare(fixture, on_result=show)
    except (KeyError, ValueError, TypeError) as error:
        sys.exit(f"error: {args.fixture}: {error}")
    failed = [r.name for r in results if not r.ok]
    print(f"{len(results) - len(failed)}/{len(results)} outputs within {TOLERANCE:g}"
          + (f"; failing: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
