#!/usr/bin/env python
"""A miniature of HERO's pre-training ablation on the demo corpus, in one command.

Rows: no pre-training; MLM; + MFM-NCE; + FOM; + VSM; all + MFFR. Each row pre-trains on the demo corpus
(the no-pre-training row starts from the text initialisation only), fine-tunes TVR, How2R, TVQA and How2QA,
and evaluates the final weights on the held-out val splits. Columns as the paper: TVR / How2R VCMR
R@1 / R@10 / R@100 at tIoU 0.7, TVQA / How2QA accuracy; mean ± std over seeds, plus a chance row. QA is
also evaluated with noise in place of every frame feature (the frames carry the answer: it falls to chance).

    python scripts/reproduce_demo.py                       # the full table (3 seeds)
    python scripts/reproduce_demo.py --quick               # fewer steps, one seed (CI-sized)
    python scripts/reproduce_demo.py --jobs 2              # two (row, seed)s at a time, one thread each

Re-run the same command to resume: finished stages and finished (row, seed)s are kept. Writes
OUTPUT/table.md, table.json, qa_noise_frames.md and timings.json; every cell names the metrics file it
was read from (table.json).
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, replace
from pathlib import Path

import _bootstrap  # noqa: F401  (makes the repository importable)
from tqdm import tqdm

from evaluation.paper_table import render_json, render_markdown
from tasks.demo_table import FULL, QUICK, ROWS, DemoTable
from utils.atomic_io import atomic_write_text
from utils.precision import cpu_has_fast_bf16


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--output", type=Path, default=None,
                   help="table folder (default output/reproduce-demo, or output/reproduce-demo-quick)")
    p.add_argument("--corpus", type=Path, default=Path("demo_data"), help="demo corpus folder (built if missing)")
    p.add_argument("--quick", action="store_true", help="reduced version: fewer steps, one seed")
    p.add_argument("--rows", nargs="+", choices=[r.key for r in ROWS], default=None, help="only these rows")
    p.add_argument("--seeds", nargs="+", type=int, default=None, help="seeds (default 0 1 2; --quick: 0)")
    p.add_argument("--pretrain-steps", type=int, default=None)
    p.add_argument("--finetune-steps", type=int, default=None)
    p.add_argument("--model-config", default=None, help="model JSON (default config/hero_demo_model.json; "
                   "--quick: config/hero_demo_small_model.json)")
    p.add_argument("--text-init", default=None,
                   help="text initialisation of every row ('none' for none; default the bundled MiniLM)")
    p.add_argument("--keep-checkpoints", action="store_true",
                   help="keep fine-tuned weights and training states (about 300 MB per fine-tuning)")
    p.add_argument("--precision", choices=["fp32", "bf16"], default=None,
                   help="of every training and evaluation (default: bf16 where this CPU has bf16 matrix units, "
                        "else fp32; --quick: fp32)")
    p.add_argument("--train-batch-size", type=int, default=None, help="pre-training videos per batch (default 8)")
    p.add_argument("--jobs", type=int, default=1,
                   help="(row, seed)s run at once, each in its own process with cores/jobs threads (default 1; "
                        "on a 2-core CPU --jobs 2 finishes the table sooner: small models use 2 threads poorly)")
    args = p.parse_args(argv)
    for name in ("pretrain_steps", "finetune_steps", "train_batch_size", "jobs"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be positive")
    return args


def _run_one(table: DemoTable, row_key: str, seed: int, threads: int) -> str:
    """One (row, seed) in a worker process (its own torch threads; stage logs go to the stage folders)."""
    import torch

    torch.set_num_threads(threads)
    row = next(r for r in table.rows if r.key == row_key)
    table.run_seed(row, seed, table.row_stages(row, seed), lambda _what: None)
    return f"{row_key} seed {seed}"


def _exit_with_parent(parent: int) -> None:
    """Pool initializer: end this worker when the parent is gone (killed by a signal, its workers would otherwise
    run on, writing into the table folder that a re-run also writes into)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def run_in_processes(table: DemoTable, work: list, jobs: int, bar: tqdm) -> None:
    """Run the (row, seed)s ``jobs`` at a time, each in a fresh process (spawned: no forked torch state)."""
    threads = max(1, (os.cpu_count() or 1) // jobs)
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_exit_with_parent, initargs=(os.getpid(),)) as pool:
        futures = [pool.submit(_run_one, table, row.key, seed, threads) for row, seed in work]
        for future in as_completed(futures):
            bar.set_description(f"{future.result()} done")  # re-raises a failed (row, seed)'s error here
            bar.update(1)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.precision is None and not args.quick:
        args.precision = "bf16" if cpu_has_fast_bf16() else "fp32"  # 1.7x faster TVQA fine-tuning where it is
    changes = {"pretrain_steps": args.pretrain_steps, "finetune_steps": args.finetune_steps,
               "model_config": args.model_config, "seeds": tuple(args.seeds) if args.seeds else None,
               "train_batch_size": args.train_batch_size, "precision": args.precision}
    scale = replace(QUICK if args.quick else FULL, **{k: v for k, v in changes.items() if v is not None})
    if args.text_init is not None:
        scale = replace(scale, text_init=None if args.text_init == "none" else args.text_init)
    output = args.output or Path("output/reproduce-demo-quick" if args.quick else "output/reproduce-demo")
    rows = tuple(r for r in ROWS if args.rows is None or r.key in args.rows)
    table = DemoTable(output, args.corpus, scale, rows, args.keep_checkpoints)
    t0 = time.time()
    # the no-pre-training row (the shortest) last: side by side, the other worker then idles least at the end
    work = sorted(((row, seed) for row, seed, _ in table.stages()), key=lambda rs: not rs[0].objectives)
    bar = tqdm(total=len(work), unit="row-seed", file=sys.stderr)
    try:
        table.prepare(log=lambda line: tqdm.write(line, file=sys.stderr))
        if args.jobs == 1:
            for row, seed in work:
                table.run_seed(row, seed, table.row_stages(row, seed), bar.set_description)
                bar.update(1)
        else:
            run_in_processes(table, work, args.jobs, bar)
        bar.close()
        rows_out = table.table_rows()
        noise = table.table_rows("noise_frames")
    except ValueError as e:  # bad input (e.g. an output folder made with another recipe): one line
        bar.close()
        sys.exit(f"error: {e}")
    atomic_write_text(table.output / "table.md", render_markdown(rows_out))
    atomic_write_text(table.output / "table.json", render_json(rows_out))
    atomic_write_text(table.output / "qa_noise_frames.md", render_markdown(noise))
    atomic_write_text(table.output / "timings.json", json.dumps(
        {"this_invocation_seconds": round(time.time() - t0, 1), "scale": asdict(scale),
         "stages": table.seconds()}, indent=2))
    print(render_markdown(rows_out))
    print("QA with noise frame features:\n" + render_markdown(noise))
    print(f"wrote {table.output / 'table.md'} ({time.time() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
