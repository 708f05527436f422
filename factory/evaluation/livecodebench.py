"""LiveCodeBench (Jain et al., 2024), code generation: problems from LeetCode, AtCoder and Codeforces
contests, each with public and hidden tests, stdin/stdout or functional (LeetCode's `class Solution`).

Source: the Hub dataset `livecodebench/code_generation_lite`, whose release tags name its JSON lines
files (`--code-release`: release_v1 = test.jsonl, release_vN adds test2 … testN.jsonl; vN is testN
alone, vN_vM testN … testM); or a local copy (`--benchmarks livecodebench=FILE|FOLDER`) in its
columns: question_id, question_title, question_content, platform, contest_date, starter_code,
difficulty, public_test_cases (JSON), private_test_cases (JSON, or base64 of zlib of a pickled JSON
string), metadata (JSON; `func_name` for functional problems).

The point of LiveCodeBench is problems published after a model's training cut-off: `--code-window
FROM..TO` keeps the problems whose contest_date falls in it (the R1 paper's window,
2024-08-01..2025-01-31, by default; `all` keeps every one). Problems outside are never decoded.

The hidden tests are a pickle: unpickled with no globals at all (a pickle that names any class or
function is refused), so a tampered file can build strings and lists but never run code.

Each problem becomes a row: `problem` is LiveCodeBench's own prompt (its question, format and
answer lines; the instruction line is factory/evaluation/templates/livecodebench/code.txt),
`domain: code`, `tests` every public then hidden test as JSON ({input, output, testtype}), and
`func_name`; the code-tests filter (filters/code.py) runs the last program of the response
against them in the sandbox.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import pickle
import re
import zlib
from datetime import date
from pathlib import Path
from typing import Iterator

from factory.core.errors import InputError
from factory.core.inputs import hub_file, json_lines
from factory.core.layout import data_files
from factory.core.problems import content_id, iter_records

HUB_REPO = "livecodebench/code_generation_lite"
FILES = ("test.jsonl", "test2.jsonl", "test3.jsonl", "test4.jsonl", "test5.jsonl", "test6.jsonl")
R1_WINDOW = "2024-08-01..2025-01-31"   # the R1 paper: "LiveCodeBench (2024-08 – 2025-01)"
TEMPLATES = Path(__file__).resolve().parent / "templates" / "livecodebench"
COLUMNS = ("question_content", "public_test_cases")
_RELEASE = re.compile(r"^(?:release_v(\d)|release_latest|v(\d)(?:_v(\d))?)$")

STDIN_FORMAT = ("Read the inputs from stdin solve the problem and write the answer to stdout (do not directly test "
                "on the sample inputs). Enclose your code within delimiters as follows. Ensure that when the "
                "python program runs, it reads the inputs, runs the algorithm and writes output to STDOUT.")
STARTER_FORMAT = ("You will use the following starter code to write the solution to the problem and enclose "
                  "your code within delimiters.")


def sniff(record: dict) -> bool:
    return all(c in record for c in COLUMNS)


def release_files(tag: str) -> list[str]:
    """The files of a release tag (ValueError for a tag that names none)."""
    m = _RELEASE.match(tag)
    if not m or any(g is not None and not 1 <= int(g) <= len(FILES) for g in m.groups()):
        raise ValueError(f"--code-release {tag!r}: expected release_v1 … release_v{len(FILES)}, release_latest, "
                         f"vN or vN_vM")
    if tag == "release_latest":
        return list(FILES)
    if m.group(1):
        return list(FILES[:int(m.group(1))])
    first, last = int(m.group(2)), int(m.group(3) or m.group(2))
    if last < first:
        raise ValueError(f"--code-release {tag!r}: the second version comes before the first")
    return list(FILES[first - 1:last])


def parse_window(text: str) -> tuple[date, date] | None:
    """FROM..TO (ISO dates, both kept) or `all` (None); ValueError otherwise."""
    if text == "all":
        return None
    start, sep, end = text.partition("..")
    try:
        window = date.fromisoformat(start), date.fromisoformat(end)
    except ValueError:
        window = None
    if not sep or window is None or window[0] > window[1]:
        raise ValueError(f"--code-window {text!r}: expected FROM..TO with ISO dates, FROM not after TO "
                         f"(e.g. {R1_WINDOW}), or all")
    return window


def records(source: str, hub: bool, release: str) -> Iterator[tuple[str, dict]]:
    if hub:
        for name in release_files(release):
            path = hub_file(source, name, what="livecodebench", local_flag="--benchmarks livecodebench=FILE")
            yield from _jsonl(path)
        return
    path = Path(source)
    for f in ([path] if path.is_file() else data_files(path)):
        yield from (_jsonl(f) if f.name.endswith((".jsonl", ".jsonl.gz")) else iter_records(f))


def _jsonl(path: Path) -> Iterator[tuple[str, dict]]:
    """Streamed: a release file is hundreds of MB, read one problem at a time."""
    for lineno, raw in json_lines(path):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise InputError(f"{path}:{lineno}: malformed JSON ({e})") from None
        if not isinstance(record, dict):
            raise InputError(f"{path}:{lineno}: expected a JSON object per line")
        yield f"{path}:{lineno}", record


class _NoGlobals(pickle.Unpickler):
    """Builds only what a pickle spells out (strings, numbers, lists, dicts): every route to code goes
    through find_class."""

    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"refusing {module}.{name}: hidden tests are a pickled string, nothing else")


def decode_tests(where: str, column: str, value) -> list[dict]:
    """A test-case column as a list of {input, output, testtype}: JSON, or LiveCodeBench's packing of
    the hidden tests (base64 of zlib of a pickled JSON string)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            try:
                text = _NoGlobals(io.BytesIO(zlib.decompress(base64.b64decode(value, validate=True)))).load()
                value = json.loads(text) if isinstance(text, str) else None
            except (binascii.Error, zlib.error, pickle.UnpicklingError, EOFError, ValueError, TypeError) as e:
                raise InputError(f"{where}: {column} is neither JSON nor LiveCodeBench's packed tests "
                                 f"({type(e).__name__}: {e})") from None
    if value in (None, ""):
        return []
    if not isinstance(value, list) or not all(isinstance(t, dict) and "input" in t and "output" in t for t in value):
        raise InputError(f"{where}: {column} must be a list of {{input, output, testtype}} tests")
    return [{"input": str(t["input"]), "output": str(t["output"]), "testtype": t.get("testtype") or "stdin"}
            for t in value]


def prompt(record: dict) -> str:
    """LiveCodeBench's user message (lcb_runner's generic template, question to answer line)."""
    starter = (record.get("starter_code") or "").strip()
    form = (f"### Format: {STARTER_FORMAT}\n```python\n{starter}\n```\n\n" if starter
            else f"### Format: {STDIN_FORMAT}\n```python\n# YOUR CODE HERE\n```\n\n")
    return f"### Question:\n{record['question_content']}\n\n{form}### Answer: (use the provided format with backticks)\n"


def contest_day(where: str, record: dict) -> date | None:
    raw = record.get("contest_date")
    if raw in (None, ""):
        return None
    try:
        return date.fromisoformat(str(raw)[:10])
    except ValueError:
        raise InputError(f"{where}: contest_date {raw!r} is not an ISO date") from None


def _func_name(where: str, record: dict) -> str | None:
    meta = record.get("metadata") or {}
    if isinstance(meta, str):
        try:
            meta = json.loads(meta) if meta.strip() else {}
        except json.JSONDecodeError:
            raise InputError(f"{where}: metadata is not JSON") from None
    return (meta.get("func_name") if isinstance(meta, dict) else None) or record.get("func_name")


def problem_row(where: str, record: dict) -> dict:
    missing = [c for c in COLUMNS if c not in record]
    if missing:
        raise InputError(f"{where}: a LiveCodeBench row needs the columns {', '.join(COLUMNS)}; missing "
                         f"{', '.join(missing)} (columns present: {', '.join(sorted(record)) or 'none'})")
    if not isinstance(record["question_content"], str) or not record["question_content"].strip():
        raise InputError(f"{where}: question_content is empty or not text")
    tests = (decode_tests(where, "public_test_cases", record["public_test_cases"])
             + decode_tests(where, "private_test_cases", record.get("private_test_cases")))
    if not tests:
        raise InputError(f"{where}: the problem has no tests (public_test_cases and private_test_cases are empty)")
    func = _func_name(where, record)
    if func is None and any(t["testtype"] == "functional" for t in tests):
        raise InputError(f"{where}: functional tests but no func_name in metadata")
    return {"id": str(record.get("question_id") or content_id(record["question_content"])), "domain": "code",
            "problem": prompt(record), "answer": None, "tests": json.dumps(tests, ensure_ascii=False),
            "func_name": func, **{k: record.get(k) for k in ("question_title", "platform", "difficulty",
                                                               "contest_date", "starter_code")}}


def load(bench, *, release: str = "release_v5", window: str = R1_WINDOW, limit: int | None = None,
         **_) -> list[dict]:
    """The problem rows of every problem in the window (see the module docstring)."""
    span, rows = parse_window(window), []
    for where, record in records(bench.source, bench.hub, release):
        day = contest_day(where, record)
        if span is not None and (day is None or not span[0] <= day <= span[1]):
            continue
        rows.append(problem_row(where, record))
        if limit is not None and len(rows) >= limit:
            break
    if not rows:
        raise InputError(f"{bench.source}: no LiveCodeBench problems with a contest_date in {window} "
                         f"(--code-window all keeps every one)")
    return rows
