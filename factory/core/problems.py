"""Problem sources: JSONL / JSON / Parquet files (the JSON ones also gzipped, .jsonl.gz), a folder
of them, or a Hub dataset.

Every problem becomes a dict with `problem_id`, `problem`, `answer`, `domain`, `history`, `cot`
and the source's other fields (carried into the traces). A row without the problem field that holds
a conversation instead (`messages`, or `prompt` and `response`: factory/core/chat.py) is chat data:
its last user turn is the problem, the reply after it the answer, the turns before it the history,
and its domain `general` unless it says otherwise. A row may say `cot: false` (no chain of thought
for it) or `cot: true`. Errors name the file and line (JSONL, JSON) or row (Parquet) and are raised
before anything runs.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from factory.core.chat import Conversation, from_prompt_response, parse_messages
from factory.core.errors import InputError
from factory.core.inputs import json_bytes, json_lines, open_parquet, parquet_batches, resolve
from factory.core.layout import DATA_SUFFIXES, data_suffix


@dataclass(frozen=True)
class ColumnMap:
    """Which input columns hold the problem, its reference answer and its id: every reader of
    problems (generate, evaluate, decontamination's benchmarks) or of traces (the filter) takes one."""

    problem: str = "problem"
    answer: str = "answer"
    id: str = "id"


@dataclass(frozen=True)
class FieldMap(ColumnMap):
    """A problem file's columns (--problem-field, --answer-field, --id-field), and its domain's."""

    domain: str = "domain"
    messages: str = "messages"


@dataclass
class ProblemSet:
    rows: list[dict]               # problem_id, problem, answer, domain + extras
    extra_columns: list[str]       # carried fields, in first-seen order
    extra_schema: Any              # pyarrow schema of the extras (one type per column)
    source: str

    def __len__(self) -> int:
        return len(self.rows)


def content_id(problem: str) -> str:
    """Stable id for a problem without one: a hash of its text."""
    return hashlib.sha256(problem.encode("utf-8")).hexdigest()[:16]


def _iter_jsonl(path: Path) -> Iterator[tuple[str, dict]]:
    for lineno, raw in json_lines(path):
        where = f"{path}:{lineno}"
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise InputError(f"{where}: not valid UTF-8 (byte 0x{raw[e.start]:02x} at column "
                             f"{e.start + 1}); re-encode the file as UTF-8") from None
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as e:
            raise InputError(f"{where}: malformed JSON ({e.msg.removesuffix(' at')} at column {e.colno})") from None
        if not isinstance(obj, dict):
            raise InputError(f"{where}: expected a JSON object per line, got {type(obj).__name__}")
        yield where, obj


def _iter_json(path: Path) -> Iterator[tuple[str, dict]]:
    try:
        data = json.loads(json_bytes(path).decode("utf-8"))
    except UnicodeDecodeError as e:
        raise InputError(f"{path}: not valid UTF-8 (byte offset {e.start})") from None
    except json.JSONDecodeError as e:
        raise InputError(f"{path}:{e.lineno}: malformed JSON ({e.msg.removesuffix(' at')} at column {e.colno})") from None
    if not isinstance(data, list):
        raise InputError(f"{path}: expected a JSON list of objects (or use .jsonl)")
    for i, obj in enumerate(data):
        if not isinstance(obj, dict):
            raise InputError(f"{path}: item {i}: expected an object, got {type(obj).__name__}")
        yield f"{path}: item {i}", obj


def _iter_parquet(path: Path) -> Iterator[tuple[str, dict]]:
    pf = open_parquet(path)
    row = 0
    for batch in parquet_batches(path, 4096, pf=pf):
        for obj in batch.to_pylist():
            row += 1
            yield f"{path}: row {row}", obj


def _iter_source(source: str, split: str, subset: str | None) -> Iterator[tuple[str, dict]]:
    found = resolve(source)
    if found.hub_id:
        for i, obj in enumerate(found.hub_dataset(split, subset)):
            yield f"{source}[{split}] row {i + 1}", obj
        return
    for f in found.files:
        yield from iter_records(f)


def iter_records(path: Path) -> Iterator[tuple[str, dict]]:
    """(location, object) of every record of a JSONL / JSON / Parquet file (JSON ones plain or
    gzipped); errors name file and line."""
    kind = data_suffix(path)
    if kind in (".jsonl", ".jsonl.gz"):
        return _iter_jsonl(path)
    if kind in (".json", ".json.gz"):
        return _iter_json(path)
    if kind == ".parquet":
        return _iter_parquet(path)
    raise InputError(f"{path}: unsupported file type {path.suffix!r}; use {', '.join(DATA_SUFFIXES)}")


def as_text(value: Any) -> str | None:
    """A field value as text: numbers as written, lists and objects as JSON, None kept."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def load_problems(source: str, *, fields: FieldMap = FieldMap(), reserved: set[str] = frozenset(),
                  limit: int | None = None, split: str = "train", subset: str | None = None) -> ProblemSet:
    """Load and validate every problem of `source`.

    `reserved` names columns the traces already have; a source field with one
    of those names is carried as `input_<name>` so nothing is overwritten.
    """
    rows: list[dict] = []
    first_seen: dict[str, str] = {}
    extras: dict[str, None] = {}
    renamed: set[str] = set()
    for where, obj in _iter_source(source, split, subset):
        row, consumed = _problem_row(where, obj, fields)
        pid = row["problem_id"]
        if pid in first_seen:
            what = "duplicate id" if obj.get(fields.id) not in (None, "") else "duplicate problem text (same content id)"
            raise InputError(f"{where}: {what} {pid!r}, first seen at {first_seen[pid]}")
        first_seen[pid] = where
        for key, value in obj.items():
            if key in consumed:
                continue
            name = key
            if key in reserved:
                name = f"input_{key}"
                renamed.add(key)
            extras.setdefault(name, None)
            row[name] = value
        rows.append(row)
    if not rows:
        raise InputError(f"{source}: no problems found (the input is empty)")
    if limit is not None:
        rows = rows[:limit]
    if renamed:
        import warnings
        warnings.warn(f"source fields {sorted(renamed)} clash with trace columns; "
                      f"carried as input_<name>", stacklevel=2)
    schema = _extra_schema(rows, list(extras))
    return ProblemSet(rows=rows, extra_columns=list(extras), extra_schema=schema, source=source)


def _problem_row(where: str, obj: dict, fields: FieldMap) -> tuple[dict, set[str]]:
    """(the problem row of one record, the record's fields it consumed)."""
    consumed = {fields.problem, fields.answer, fields.id, fields.domain, "cot"}
    chat = _conversation(where, obj, fields)
    if chat is not None:
        problem, answer, history = chat.prompt, chat.reference, chat.history or None
        consumed |= {fields.messages, "prompt", "response", "completion"}
        default_domain, text = "general", chat.digest_text()
    else:
        problem = obj.get(fields.problem)
        if not isinstance(problem, str) or not problem.strip():
            raise InputError(f"{where}: problem field {fields.problem!r} is empty or not text "
                             f"(got {type(problem).__name__})")
        answer, history, default_domain, text = as_text(obj.get(fields.answer)), None, "math", problem
    raw_id = obj.get(fields.id)
    domain = obj.get(fields.domain)
    if domain is not None and not isinstance(domain, str):
        raise InputError(f"{where}: domain field {fields.domain!r} must be text, got {domain!r}")
    cot = obj.get("cot")
    if cot is not None and not isinstance(cot, bool):
        raise InputError(f"{where}: cot must be true or false (chain of thought or none), got {cot!r}")
    pid = content_id(text) if raw_id is None or raw_id == "" else str(raw_id)
    return {"problem_id": pid, "problem": problem, "answer": answer, "domain": domain or default_domain,
            "history": history, "cot": cot}, consumed


def _conversation(where: str, obj: dict, fields: FieldMap) -> Conversation | None:
    """The record's conversation when it is chat data (no problem field; messages, or prompt and a
    response); None for a problem record. InputError when it is neither."""
    if fields.problem in obj:
        return None
    if fields.messages in obj:
        return parse_messages(where, obj[fields.messages])
    if "prompt" in obj:
        return from_prompt_response(where, obj["prompt"], obj.get("response", obj.get("completion")))
    raise InputError(f"{where}: missing problem field {fields.problem!r} "
                     f"(fields present: {', '.join(sorted(obj)) or 'none'}; choose one with --problem-field, "
                     f"or give chat data as {fields.messages!r} or prompt/response)")


def _extra_schema(rows: list[dict], columns: list[str]):
    """One Arrow type per carried column; values whose types conflict become JSON text."""
    import pyarrow as pa

    fields = []
    for col in columns:
        values = [r.get(col) for r in rows]
        try:
            arr = pa.array(values)
            if pa.types.is_null(arr.type):
                arr = pa.array(values, type=pa.string())
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError):
            for r in rows:
                v = r.get(col)
                r[col] = None if v is None else (v if isinstance(v, str) else json.dumps(v, ensure_ascii=False))
            arr = pa.array([r.get(col) for r in rows], type=pa.string())
        fields.append(pa.field(col, arr.type))
    return pa.schema(fields)
