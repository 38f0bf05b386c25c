"""The package's shape: imports flow one way, down the pipeline (see docs/architecture.md), and no
module or command grows past its size limit."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "zsclf"
BELOW = {  # the groups each group may import (errors and version: everyone)
    "core": set(),
    "models": {"core"},
    "data": {"core"},
    "index": {"core", "models"},
    "pipeline": {"core", "models", "data", "index"},
    "learn": {"core", "models", "data", "index", "pipeline"},
    "collection": {"core", "models", "data", "index", "pipeline"},
    "measure": {"core", "models", "data", "index", "pipeline", "learn"},
    "install": {"core", "models", "data", "index", "pipeline", "learn"},
    "batch": {"core", "models", "data", "index", "pipeline"},
    "serve": {"core", "models", "data", "index", "pipeline", "collection"},
    "cli": {"core", "models", "data", "index", "pipeline", "learn", "measure", "collection", "install", "batch",
            "serve"},
}
EVERYONE = {"errors", "version"}


def modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py"))


def group_of(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def imported_groups(path: Path) -> set[str]:
    """zsclf groups imported anywhere in the module (function-local imports included)."""
    out = set()
    depth = len(path.relative_to(PACKAGE).parts) - 1  # 0 for zsclf/x.py, 1 for zsclf/group/x.py
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module and node.module.startswith("zsclf."):
                parts = node.module.split(".")[1:]
            elif node.level > depth:  # from ..x (leaves the group)
                parts = (node.module or "").split(".")
                if not parts[0]:
                    parts = [alias.name for alias in node.names]
            else:
                continue
            out.add(parts[0])
        elif isinstance(node, ast.Import):
            out |= {a.name.split(".")[1] for a in node.names if a.name.startswith("zsclf.")}
    return out


@pytest.mark.parametrize("path", [p for p in modules() if group_of(p) in BELOW],
                         ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_flow_one_way(path):
    group = group_of(path)
    wrong = imported_groups(path) - BELOW[group] - EVERYONE - {group}
    assert not wrong, f"{path.relative_to(PACKAGE)} ({group}) imports {sorted(wrong)}: see docs/architecture.md"


def test_the_pipeline_never_imports_building_or_training():
    for path in (PACKAGE / "pipeline").glob("*.py"):
        assert not imported_groups(path) & {"learn", "measure", "cli", "batch"}, path.name


def test_optional_engines_are_imported_only_inside_functions():
    """pyarrow and ray (the batch extras) are never imported at module level, anywhere: `predict`,
    `zsclf --help` and a `batch --engine local` without Ray run without them."""
    for path in modules():
        top = [n for n in ast.parse(path.read_text()).body if isinstance(n, (ast.Import, ast.ImportFrom))]
        names = {a.name.split(".")[0] for n in top if isinstance(n, ast.Import) for a in n.names}
        names |= {n.module.split(".")[0] for n in top if isinstance(n, ast.ImportFrom) and n.module and not n.level}
        assert not names & {"ray", "pyarrow"}, f"{path.relative_to(PACKAGE)} imports {names & {'ray', 'pyarrow'}}"


def test_modules_and_commands_stay_small():
    for path in modules():
        lines = path.read_text().count("\n")
        assert lines <= 400, f"{path.relative_to(PACKAGE)} has {lines} lines: split it by concern"
    for path in (PACKAGE / "cli").glob("*.py"):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
                length = node.end_lineno - node.lineno + 1
                assert length <= 40 or path.name in ("reports.py", "render.py", "terminal.py"), \
                    f"command {path.name}:{node.name} is {length} lines: move the work into the library"
