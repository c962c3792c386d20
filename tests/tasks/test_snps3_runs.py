"""pretrain.py with SNP-S3's options (real process, demo corpus, tiny model): MSSM masking and the LVWM task."""
import json

from tests.helpers_runs import read_losses, run_script, tiny_pretrain_config


def test_pretraining_with_mssm_and_lvwm(demo_dir, tmp_path):
    tv = {"name": "tv", "sub_txt_db": "txt_db/tv_subtitles.db", "vfeat_db": "video_db/tv", "vfeat_interval": 1.5,
          "splits": [{"name": "all", "tasks": ["mlm", "lvwm"], "ratio": [1, 1]}]}
    config = tiny_pretrain_config(tmp_path, demo_dir, targets=[tv], targets_ratio=None, num_train_steps=6,
                                  valid_steps=6, save_steps=6, mlm_masking="significant", lvwm_temperature=0.5)
    result = run_script(["pretrain.py", "--config", str(config)])
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    table = demo_dir / "txt_db/tv_subtitles.db/significant_words.json"  # a demo run mines a missing table
    assert json.loads(table.read_text())["format"] == "hero-significant-words"
    tasks = {row["task"] for row in read_losses(tmp_path / "run")}
    assert tasks == {"mlm_tv_all", "lvwm_tv_all"}
    validation = next(line for line in result.stdout.splitlines() if "validation |" in line)
    assert "lvwm_tv_all: loss" in validation and "chance" in validation.split("lvwm_tv_all:")[1]


def test_missing_table_outside_a_demo_is_one_clear_error(demo_dir, tmp_path):
    config = tiny_pretrain_config(tmp_path, demo_dir, demo_corpus=None, mlm_masking="significant",
                                  significant_words=str(tmp_path / "nowhere.json"))
    result = run_script(["pretrain.py", "--config", str(config)])
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "nowhere.json" in lines[0] and "mine_significant_words.py" in lines[0], lines
