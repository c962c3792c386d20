"""The rooms keep their jobs: the import graph between the top-level packages, read from the source."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("config", "data", "model", "optim", "utils", "tasks", "evaluation", "pretrained", "devtools", "viewer",
            "features")

# room → rooms it must not import (generic plumbing knows no task; lower layers never import upper ones)
FORBIDDEN = {
    "utils": {"data", "model", "tasks", "evaluation", "pretrained", "devtools", "viewer"},
    "config": {"data", "model", "optim", "utils", "tasks", "evaluation", "pretrained", "devtools", "torch"},
    "model": {"config", "data", "optim", "utils", "tasks", "evaluation", "pretrained", "devtools"},
    "optim": {"data", "tasks", "evaluation", "pretrained", "devtools"},
    "data": {"utils", "tasks", "evaluation", "pretrained", "devtools", "optim"},
    "evaluation": {"tasks", "pretrained", "devtools", "optim", "viewer"},
    "pretrained": {"data", "tasks", "evaluation", "devtools", "optim"},
    "tasks": {"devtools", "viewer"},
    "viewer": {"devtools", "optim"},
    "features": set(PACKAGES) - {"features"},  # encoders + decoding stand alone (torch, PyAV, transformers)
}


def imports_of(path: Path, root: Path = ROOT) -> list[tuple[str, list[str], int]]:
    """(module, imported names, line) of every import in the file, relative imports made absolute."""
    package = ".".join(path.relative_to(root).with_suffix("").parts[:-1])
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, [], node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([module] if module else []))
            found.append((module, [alias.name for alias in node.names], node.lineno))
    return found


def source_files(room: str) -> list[Path]:
    return sorted((ROOT / room).rglob("*.py"))


@pytest.mark.parametrize("room", sorted(FORBIDDEN))
def test_rooms_import_only_what_their_layer_allows(room):
    bad = [f"{path.relative_to(ROOT)}:{line} imports {module}"
           for path in source_files(room) for module, _, line in imports_of(path)
           if module.split(".")[0] in FORBIDDEN[room]]
    assert bad == []


def test_no_module_imports_a_private_name_of_another():
    files = [p for room in PACKAGES for p in source_files(room)]
    files += sorted(ROOT.glob("*.py")) + sorted((ROOT / "scripts").glob("*.py"))
    files += sorted((ROOT / "tests").rglob("*.py"))
    bad = [f"{path.relative_to(ROOT)}:{line} from {module} import {name}"
           for path in files for module, names, line in imports_of(path)
           if module.split(".")[0] in PACKAGES + ("tests",)
           for name in names if name.startswith("_") and not name.startswith("__")]
    assert bad == []


def test_checker_sees_forbidden_and_private_imports(tmp_path):
    """The checks can fail: a utils/ file importing a task room and a private name is reported."""
    probe = tmp_path / "utils" / "probe.py"
    probe.parent.mkdir()
    probe.write_text("from tasks.runner import run_session\nfrom ..data.dbs.codec import _private\n")
    found = imports_of(probe, root=tmp_path)
    assert [m for m, _, _ in found if m.split(".")[0] in FORBIDDEN["utils"]] == ["tasks.runner", "data.dbs.codec"]
    assert [n for _, names, _ in found for n in names if n.startswith("_")] == ["_private"]
