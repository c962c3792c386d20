"""HERO's table from metrics files: cells, mean ± std over seeds, blanks, published figures and differences."""
import json

import pytest

from evaluation.paper_table import (
    COLUMNS,
    PUBLISHED_HERO,
    Cell,
    MetricsFileError,
    cells_from_metrics,
    mean_std,
    render_json,
    render_markdown,
)
from tests.helpers_runs import run_script


def vcmr_metrics(tmp_path, name, r1, r10, r100):
    path = tmp_path / name
    path.write_text(json.dumps({"VCMR": {"0.7-r1": r1, "0.7-r10": r10, "0.7-r100": r100, "0.5-r1": 99.0}}))
    return path


def test_columns_and_published_figures():
    assert [c.key for c in COLUMNS] == ["tvr_r1", "tvr_r10", "tvr_r100", "tvqa_acc", "how2r_r1", "how2r_r10",
                                        "how2r_r100", "how2qa_acc"]
    assert PUBLISHED_HERO == {"tvr_r1": 4.34, "tvr_r10": 13.97, "tvr_r100": 21.78, "tvqa_acc": 74.24,
                              "how2qa_acc": 77.75}


def test_cells_mean_std_and_rendering(tmp_path):
    a = cells_from_metrics("tvr", vcmr_metrics(tmp_path, "a.json", 4.0, 14.0, 22.0))
    b = cells_from_metrics("tvr", vcmr_metrics(tmp_path, "b.json", 5.0, 15.0, 21.0))
    assert a["tvr_r1"] == Cell(4.0, None, (str(tmp_path / "a.json"),))
    qa = tmp_path / "qa.json"
    qa.write_text(json.dumps({"accuracy": 0.7512, "count": 10}))
    assert cells_from_metrics("tvqa", qa) == {"tvqa_acc": Cell(pytest.approx(75.12), None, (str(qa),))}
    cells = {key: mean_std([a[key], b[key]]) for key in a} | cells_from_metrics("tvqa", qa)
    assert cells["tvr_r1"].mean == 4.5 and cells["tvr_r1"].std == pytest.approx(0.7071, abs=1e-4)
    assert cells["tvr_r1"].sources == (str(tmp_path / "a.json"), str(tmp_path / "b.json"))
    table = render_markdown([("ours", cells)], PUBLISHED_HERO)
    lines = table.splitlines()
    assert lines[2] == "| HERO (published) | 4.34 | 13.97 | 21.78 | 74.24 |  |  |  | 77.75 |"
    assert lines[3] == "| ours | 4.50 ± 0.71 | 14.50 ± 0.71 | 21.50 ± 0.71 | 75.12 |  |  |  |  |"
    assert lines[4] == "| Δ ours − published | +0.16 | +0.53 | -0.28 | +0.88 |  |  |  |  |"
    data = json.loads(render_json([("ours", cells)], PUBLISHED_HERO))
    assert data["rows"][0]["cells"]["tvr_r10"]["difference"] == 0.53
    assert "how2qa_acc" not in data["rows"][0]["cells"] and data["published"]["how2qa_acc"] == 77.75
    assert "HERO (published)" not in render_markdown([("ours", cells)])


def test_a_file_without_the_metrics_is_an_error_naming_it(tmp_path):
    path = tmp_path / "m.json"
    path.write_text(json.dumps({"accuracy": 0.5}))
    with pytest.raises(MetricsFileError, match=r"m.json: no 'VCMR'"):
        cells_from_metrics("tvr", path)
    with pytest.raises(ValueError, match="dataset must be one of"):
        cells_from_metrics("didemo", path)


def test_script_blank_cells_for_missing_runs(tmp_path):
    tvr = vcmr_metrics(tmp_path, "tvr.json", 3.0, 10.0, 20.0)
    result = run_script(["scripts/paper_table.py", "--tvr", str(tvr), "--how2qa", str(tmp_path / "missing.json"),
                         "--json"], timeout=120)
    assert result.returncode == 0, result.stderr
    assert "missing.json does not exist" in result.stderr
    cells = json.loads(result.stdout)["rows"][0]["cells"]
    assert set(cells) == {"tvr_r1", "tvr_r10", "tvr_r100"} and cells["tvr_r1"]["difference"] == -1.34
