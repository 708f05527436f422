"""Code correctness: the response's final program passes the problem's tests in a sandbox.

A code trace (domain `code`) is kept only if the last fenced Python block of
its response, run once per test with the test's `input` on stdin, prints the
test's `output` (both compared after trimming trailing whitespace, per line and
at the end). Each run is a fresh sandbox (filters/sandbox.py); the judge step
runs this check in its worker processes, so as many sandboxes run at once as
there are workers, each in its own slot (uid).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field

from filters.base import AnswerCheck, register
from filters.sandbox import Limits, isolation, run_program

_FENCE = re.compile(r"```(?:python|py|python3)?[ \t]*\n(.*?)```", re.S | re.I)


def last_program(response: str) -> str | None:
    blocks = _FENCE.findall(response or "")
    return blocks[-1] if blocks else None


def parse_tests(value) -> list[dict] | None:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return None
    if not isinstance(value, list) or not value:
        return None
    if not all(isinstance(t, dict) and "input" in t and "output" in t for t in value):
        return None
    return value


def same_output(got: str, expected: str) -> bool:
    def norm(text: str) -> str:
        return "\n".join(line.rstrip() for line in str(text).rstrip().splitlines())

    return norm(got) == norm(expected)


@register
@dataclass
class CodeTestsFilter(AnswerCheck):
    name = "code_tests"
    domains: list[str] = field(default_factory=lambda: ["code"])
    wall_seconds: float = 10.0
    cpu_seconds: int = 8
    memory_mb: int = 1024
    max_tests: int = 50

    def reject(self, row: dict) -> str | None:
        if not self.applies(row):
            return None
        program = last_program(row.get("response") or "")
        if program is None:
            return "no_code"
        tests = parse_tests(row.get("tests"))
        if tests is None:
            return "no_tests"
        limits = Limits(wall_seconds=self.wall_seconds, cpu_seconds=self.cpu_seconds, memory_mb=self.memory_mb)
        slot = os.getpid()  # one uid per worker process: no two live workers share one
        for k, test in enumerate(tests[: self.max_tests]):
            result = run_program(program, str(test["input"]), limits, slot=slot)
            if result.status != "ok":
                return {"output_limit": "crash"}.get(result.status, result.status)
            if not same_output(result.stdout, test["output"]):
                return f"failed_test_{k}"
        return None

    def run_notes(self) -> dict:
        """How the programs were isolated (stats.json `code_sandbox`); a warning when they were not."""
        sandbox = isolation()
        if sandbox.startswith("WARNING"):
            print(f"\n!!! code sandbox: {sandbox} !!!\n")
        return {"code_sandbox": sandbox}
