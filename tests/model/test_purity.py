"""model/ holds pure nn.Modules: no distributed, precision, logging or file IO code."""
import re
from pathlib import Path

FORBIDDEN = re.compile(r"torch\.distributed|horovod|apex|autocast|GradScaler|tensorboard|"
                       r"\bopen\(|torch\.(save|load)\(|import logging|\bprint\(|import random|numpy")


def test_model_package_has_no_engine_code():
    model_dir = Path(__file__).resolve().parents[2] / "model"
    hits = [f"{path.name}:{n}: {line.strip()}"
            for path in sorted(model_dir.rglob("*.py"))
            for n, line in enumerate(path.read_text().splitlines(), 1) if FORBIDDEN.search(line)]
    assert hits == []
