"""The reliability promises (docs/reliability.md) name the tests that check them: each named test exists."""

from __future__ import annotations

import ast
import re

from conftest import ROOT


def _promises() -> list[str]:
    text = (ROOT / "docs" / "reliability.md").read_text()
    section = text.split("## Reliability: what the factory promises", 1)[1].split("\n## ", 1)[0]
    return re.split(r"\n(?=\d+\. )", section.strip())[1:]


def test_every_promise_names_tests_that_exist():
    promises = _promises()
    assert len(promises) >= 10
    for promise in promises:
        named = re.findall(r"`(test_\w+\.py)::(test_\w+)`", promise)
        assert named, f"no test named for: {promise[:80]}"
        for file, name in named:
            tree = ast.parse((ROOT / "tests" / file).read_text())
            defined = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
            assert name in defined, f"{file}::{name} (docs/reliability.md) does not exist"
