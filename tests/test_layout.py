"""The floor plan: imports go one way (verbs → orchestrators → stages → ground floor), a stage
imports no other stage, the lab stays in the verbs and the demo, and no function in the product
is long."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import ROOT

VERBS = {"factory.generate", "factory.filter", "factory.publish", "factory.train_student", "factory.evaluate",
         "factory.demo"}
STAGES = {"generators": "generators", "filters": "filters", "students": "students", "factory/hub": "factory.hub"}
# Orchestrators run several stages (evaluation samples with a generator backend and judges with the
# filters; the lab runs every stage): they may import stages, never a verb.
ORCHESTRATORS = ["factory/evaluation", "factory/lab"]


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at any depth (lazy imports inside functions included)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
            out |= {f"{node.module}.{a.name}" for a in node.names}
    return out


def _files(*where: str) -> list[Path]:
    files = []
    for w in where:
        p = ROOT / w
        files += [p] if p.is_file() else sorted(p.rglob("*.py"))
    return files


def _ours(name: str) -> bool:
    return name.split(".")[0] in {"factory", "generators", "filters", "students"}


def test_the_ground_floor_imports_no_stage_and_no_verb():
    for path in _files("factory/core"):
        bad = {m for m in _imports(path) if _ours(m) and not m.startswith("factory.core")}
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


def test_a_stage_imports_only_itself_and_the_ground_floor():
    for where, package in STAGES.items():
        for path in _files(where):
            bad = {m for m in _imports(path) if _ours(m) and not m.startswith(("factory.core", package))}
            assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


def test_stages_import_neither_the_verbs_nor_the_lab():
    for path in _files(*STAGES, *ORCHESTRATORS[:1]):
        bad = {m for m in _imports(path) if m in VERBS or m == "factory.lab" or m.startswith("factory.lab.")}
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


def test_no_long_functions_in_the_product():
    long = []
    for path in _files("factory", "generators", "filters", "students"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > 60:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({lines} lines)")
    assert not long, long


def test_verbs_are_thin_doors():
    for verb in sorted(VERBS - {"factory.demo"}):
        path = ROOT / (verb.replace(".", "/") + ".py")
        assert len(path.read_text().splitlines()) <= 160, f"{path.name} is more than a door"


def test_the_projects_own_modules_are_imported_at_the_top():
    """A function-local import of the project's own code hides a dependency (and dodges the rules
    above in a reader's eye); lazy imports are for heavy third-party packages only."""
    hidden = []
    for path in _files("factory", "generators", "filters", "students"):
        for fn in ast.walk(ast.parse(path.read_text())):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(fn):
                if isinstance(node, ast.ImportFrom) and node.module and _ours(node.module) or \
                        isinstance(node, ast.Import) and any(_ours(a.name) for a in node.names):
                    hidden.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not hidden, sorted(set(hidden))
