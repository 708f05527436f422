"""Code correctness: the response's final program passes the problem's tests in a sandbox.

A code trace (domain `code`) is kept only if the last fenced Python block of its response passes
each of the row's `tests` (a list of {input, output}, or its JSON text), graded as LiveCodeBench
grades its two kinds of test:

- stdin (the default; `"testtype": "stdin"`): the program runs with the test's `input` on stdin
  and must print its `output`: both split into lines, each stripped, blank lines at either end
  ignored; two lines match when equal, or token by token where the tokens are equal or both
  decimal numbers of equal value ("1.0" is "1", "0.33" is not "0.333").
- functional (`"testtype": "functional"`, LeetCode style): the row names the function
  (`func_name`, or `func_name` inside its `metadata`, JSON text or a mapping); the test's `input`
  is one JSON value per line, the positional arguments, and its `output` one JSON value. The
  program runs after LiveCodeBench's imports (`from typing import *`, collections, heapq, …) under
  a driver that calls `Solution().<func_name>(*args)` (a top-level function where there is no
  such class) and prints the result as JSON; it must equal the expected value after a JSON round
  trip (a tuple reads as a list).

Each run is a fresh sandbox (filters/sandbox.py); the judge step runs this check in its worker
processes, so as many sandboxes run at once as there are workers, each in its own slot (uid).
`max_tests` caps the tests run per trace (0: every one, as an evaluation must).
"""

from __future__ import annotations

import json
import os
import re
import secrets
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from filters.base import AnswerCheck, register
from filters.sandbox import Limits, isolation, run_program

_FENCE = re.compile(r"```(?:python|py|python3)?[ \t]*\n(.*?)```", re.S | re.I)

# What LiveCodeBench puts before a functional program: annotations such as List[int] and the
# usual helpers work without their imports; `from builtins import *` after math's keeps the
# built-in pow (math.pow takes no modulus).
PRELUDE = """\
from typing import *
import collections, heapq, bisect, math, itertools, functools, string, re, sys
from collections import *
from functools import *
from itertools import *
from heapq import *
from bisect import *
from math import *
from builtins import *
sys.setrecursionlimit(50000)
"""

# The driver is the sandboxed main.py of a functional test. It reads the test (a per-run token,
# then the arguments) before the program runs and leaves the program an empty stdin (fd 0 is
# /dev/null from then on, so it cannot seek back to it either); runs the program as a module of
# its own (its `if __name__ == "__main__":` block stays off, as in LiveCodeBench); calls the
# function, and writes the token, then the result, straight to fd 1. The host reads the line after
# the last token line: output the program printed itself, before or after, is never the result,
# and a program that exits early leaves no token. (A program that searched the driver's memory
# for the token could print a result of its choice, but only the right one passes.)
_DRIVER = """\
import json, os, sys


def _factory_main(source, name):
    token, _, arguments = sys.stdin.read().partition("\\n")
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    args = [json.loads(line) for line in arguments.splitlines() if line.strip()]
    dumps, write = json.dumps, os.write   # before the program can replace them
    namespace = {"__name__": "solution"}
    exec(compile(source, "solution.py", "exec"), namespace)
    solution = namespace.get("Solution")
    if isinstance(solution, type) and hasattr(solution, name):
        result = getattr(solution(), name)(*args)
    else:
        result = namespace[name](*args)
    try:
        text = dumps(list(result) if isinstance(result, tuple) else result)
    except (TypeError, ValueError):   # a set, an object: no JSON value, so not the expected one
        text = ""
    try:
        sys.stdout.flush()
    except Exception:
        pass
    frame = ("\\n" + token + "\\n" + text + "\\n").encode()
    while frame:
        frame = frame[write(1, frame):]
"""

_STATUS = {"output_limit": "crash"}   # sandbox status → reason (others are their own reason)


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
    """LiveCodeBench's stdin rule: the same lines once each is stripped (blank lines at either end
    aside), a line matching when equal or token by token (equal, or equal as Decimal numbers)."""
    a, b = _lines(got), _lines(expected)
    return len(a) == len(b) and all(x == y or _same_tokens(x, y) for x, y in zip(a, b))


def _lines(text) -> list[str]:
    return [line.strip() for line in str(text).strip().split("\n")]


def _same_tokens(a: str, b: str) -> bool:
    ta, tb = a.split(), b.split()
    return len(ta) == len(tb) and all(x == y or _same_number(x, y) for x, y in zip(ta, tb))


def _same_number(x: str, y: str) -> bool:
    try:
        return Decimal(x) == Decimal(y)
    except (InvalidOperation, ValueError):   # not numbers (or a signalling NaN)
        return False


def func_name_of(row: dict) -> str | None:
    """The function a functional test calls: the row's `func_name`, else `func_name` inside its
    `metadata` (JSON text or a mapping, as LiveCodeBench keeps it); None when neither names one."""
    name = row.get("func_name")
    if not name:
        meta = row.get("metadata")
        if isinstance(meta, str):
            try:
                meta = json.loads(meta)
            except json.JSONDecodeError:
                meta = None
        name = meta.get("func_name") if isinstance(meta, dict) else None
    return name if isinstance(name, str) and name.isidentifier() else None


def is_functional(test: dict) -> bool:
    return test.get("testtype") == "functional"


def functional_program(program: str, func_name: str) -> str:
    """The sandboxed main.py of a functional test: the driver around PRELUDE + `program`."""
    return f"{_DRIVER}\n\n_factory_main({PRELUDE + program!r}, {func_name!r})\n"


def run_test(program: str, test: dict, func_name: str | None, limits: Limits, slot: int) -> str | None:
    """None when `program` passes `test`; else "failed", "no_func_name", "no_tests" (a functional
    test whose input or output is not JSON) or what the sandbox says (timeout, memory, crash)."""
    if not is_functional(test):
        result = run_program(program, str(test["input"]), limits, slot=slot)
        if result.status != "ok":
            return _STATUS.get(result.status, result.status)
        return None if same_output(result.stdout, test["output"]) else "failed"
    if func_name is None:
        return "no_func_name"
    try:
        args = [json.loads(line) for line in str(test["input"]).splitlines() if line.strip()]
        expected = json.loads(test["output"]) if isinstance(test["output"], str) else test["output"]
    except json.JSONDecodeError:
        return "no_tests"
    token = secrets.token_hex(16)
    stdin = "\n".join([token, *(json.dumps(a) for a in args)]) + "\n"
    result = run_program(functional_program(program, func_name), stdin, limits, slot=slot)
    if result.status != "ok":
        return _STATUS.get(result.status, result.status)
    return None if _framed(result.stdout, token) == [expected] else "failed"


def _framed(stdout: str, token: str) -> list:
    """[the result the driver wrote after the last `token` line], or [] when there is none."""
    mark = "\n" + token + "\n"
    at = stdout.rfind(mark)
    if at < 0:
        return []
    try:
        return [json.loads(stdout[at + len(mark):].split("\n", 1)[0])]
    except ValueError:
        return []


@register
@dataclass
class CodeTestsFilter(AnswerCheck):
    name = "code_tests"
    domains: list[str] = field(default_factory=lambda: ["code"])
    wall_seconds: float = 10.0
    cpu_seconds: int = 8
    memory_mb: int = 1024
    max_tests: int = 50      # tests run per trace, in order; 0: every one

    def __post_init__(self):
        if self.max_tests < 0:
            raise ValueError(f"code_tests.max_tests must be >= 0 (0: every test), not {self.max_tests}")

    def reject(self, row: dict) -> str | None:
        if not self.applies(row):
            return None
        program = last_program(row.get("response") or "")
        if program is None:
            return "no_code"
        tests = parse_tests(row.get("tests"))
        if tests is None:
            return "no_tests"
        func_name = func_name_of(row)
        if func_name is None and any(is_functional(t) for t in tests):
            return "no_func_name"
        limits = Limits(wall_seconds=self.wall_seconds, cpu_seconds=self.cpu_seconds, memory_mb=self.memory_mb)
        slot = os.getpid()  # one uid per worker process: no two live workers share one
        for k, test in enumerate(tests[: self.max_tests or None]):
            verdict = run_test(program, test, func_name, limits, slot)
            if verdict is not None:
                return f"failed_test_{k}" if verdict == "failed" else verdict
        return None

    def run_notes(self) -> dict:
        """How the programs were isolated (stats.json `code_sandbox`); a warning when they were not."""
        sandbox = isolation()
        if sandbox.startswith("WARNING"):
            print(f"\n!!! code sandbox: {sandbox} !!!\n")
        return {"code_sandbox": sandbox}
