"""The generative judge (R1's "generative reward model"): a teacher reads the problem, the
reference and the candidate's answer, and says whether the answer is right, in one line of JSON.

What the rules cannot decide (an answer math-verify cannot parse, none at all, a verify timeout)
or cannot check (a problem with no reference), a model can. The judge is a teacher run like any
other (the in-process engine, a farm of OpenAI-compatible servers, Ray replicas): the filter
verb hands the pipeline a `Teachers` (generators/backend.py `JudgeTeachers`) that checks the
block's teacher options and starts one, through the `TeacherBackend` protocol
(factory/core/teacher.py). The YAML block sits under `correctness`:

    correctness:
      judge:
        model: PATH-or-Hub-id     # required; tokenizer: another tokenizer for the prompt
        when: undecided           # undecided | rejected | all | no_reference
        policy: rule_or_judge     # rule_or_judge | judge | rule_and_judge
        show: answer              # answer (the final answer) | response (the whole response)
        backend: engine           # engine | farm | ray, with that backend's options
        endpoints: [...]          # (farm), replicas (ray), max_model_len, … as generate's flags

Its verdicts are parsed, never guessed: JSON asked for (and constrained where the backend can:
vLLM structured outputs), then a `verdict: correct` line; anything else is an unreadable verdict,
recorded as such. Verdicts are cached on disk (filters/judge_cache.py), keyed by the judge's
identity and the row's content. The policy combines the rule's verdict and the judge's.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Protocol

from factory.core.teacher import TeacherBackend
from factory.core.traces import split_completion
from factory.core.types import check_fields, did_you_mean
from filters.answers import extract_answer

WHEN = ("undecided", "rejected", "all", "no_reference")
POLICIES = ("rule_or_judge", "judge", "rule_and_judge")
SHOW = ("answer", "response")
# The rule verdicts that decided nothing: the judge's default work (`when: undecided`).
UNDECIDED = ("unparseable_answer", "no_answer", "verify_timeout", "verify_crash", "verify_error", "reply_differs")
NO_REFERENCE = ("no_reference", "no_majority")
MAX_CANDIDATE_CHARS = 6_000   # of a response shown whole (its end: where the answer is)
JUDGE_SCHEMA = json.dumps({"type": "object", "properties": {
    "verdict": {"type": "string", "enum": ["correct", "incorrect"]},
    "reason": {"type": "string", "maxLength": 200}}, "required": ["verdict", "reason"]})

PROMPT = """You check a student's final answer to a problem against the reference answer.

Problem:
{problem}

Reference answer:
{reference}

Student's answer:
{candidate}

The student's answer is correct when it means the same as the reference: the same value, or the \
same set of values in any order; equivalent forms, rounding the problem allows, and units \
written or left out do not matter. Judge the final answer only, not the working. For example:
- reference "-2, 3", student "x = 3 or x = -2": correct
- reference "\\frac{1}{2}", student "0.5": correct
- reference "12 cm", student "12": correct
- reference "7", student "the answer is 8": incorrect
- reference "(1, 2)", student "1, 2, 3": incorrect

Reply with one JSON object and nothing else: {"verdict": "correct" or "incorrect", "reason": "one short line"}"""

PROMPT_NO_REFERENCE = """You check whether a response answers a problem correctly. There is no reference answer.

Problem:
{problem}

Response:
{candidate}

Decide whether the response's final answer is correct and answers what was asked. If you cannot \
tell, say incorrect.

Reply with one JSON object and nothing else: {"verdict": "correct" or "incorrect", "reason": "one short line"}"""


class JudgeOptionError(ValueError):
    """A bad value in the judge block; `keys`: its path under the block (for the file:line)."""

    def __init__(self, keys: tuple, message: str):
        super().__init__(message)
        self.keys = keys


class Teachers(Protocol):
    """How the pipeline gets a judge's teacher, handed in by the verb (it may import the generators;
    a stage may not): generators/backend.py `JudgeTeachers`."""

    def check(self, model: str, options: dict) -> tuple[str, str] | None:
        """(key, what is wrong) with the block's teacher options, or None: before anything runs."""

    def start(self, model: str, tokenizer: str | None, options: dict) -> TeacherBackend:
        """The teacher, started; InputError when it cannot be."""

    def tokenizer(self, name: str):
        """The tokenizer that renders the judge's prompts."""


@dataclass
class JudgeSpec:
    """The judge block's own keys; every other key is the teacher's (`teacher`)."""

    model: str
    tokenizer: str | None = None
    when: str = "undecided"
    policy: str = "rule_or_judge"
    show: str = "answer"
    temperature: float = 0.0
    top_p: float = 1.0
    max_tokens: int = 256
    structured: bool = True       # constrain the reply to the verdict's JSON where the backend can
    timeout: float = 600.0        # seconds one judge call (up to `batch` rows) may take
    batch: int = 256              # rows per judge call
    prompt: str | None = None     # a prompt file: {problem}, {reference}, {candidate}
    cache: str | None = None      # the verdict cache (SQLite; default: the user's cache folder)
    teacher: dict = field(default_factory=dict)

    @classmethod
    def parse(cls, block) -> "JudgeSpec":
        """The block, checked by name, type and value; JudgeOptionError naming the key."""
        if not isinstance(block, dict):
            raise JudgeOptionError((), f"judge must be a mapping (model: PATH, when: …), got {block!r}")
        own = {f.name for f in fields(cls)} - {"teacher"}
        mine = {k: v for k, v in block.items() if k in own}
        for key, value in mine.items():
            try:
                check_fields(cls, {key: value}, lambda k: f"judge.{k}")
            except ValueError as e:
                raise JudgeOptionError((key,), str(e)) from None
        if not mine.get("model"):
            raise JudgeOptionError((), "judge.model is required: the judge's model (a path or Hub id)")
        spec = cls(**mine, teacher={k: v for k, v in block.items() if k not in own})
        for key, allowed in (("when", WHEN), ("policy", POLICIES), ("show", SHOW)):
            if getattr(spec, key) not in allowed:
                value = getattr(spec, key)
                raise JudgeOptionError((key,), f"judge.{key} must be one of {', '.join(allowed)}, not "
                                               f"{value!r}{did_you_mean(str(value), allowed)}")
        for key, ok, rule in (("max_tokens", spec.max_tokens >= 1, "at least 1"),
                              ("batch", spec.batch >= 1, "at least 1"),
                              ("timeout", spec.timeout > 0, "positive"),
                              ("temperature", spec.temperature >= 0, ">= 0"),
                              ("top_p", 0 < spec.top_p <= 1, "in (0, 1]")):
            if not ok:
                raise JudgeOptionError((key,), f"judge.{key} must be {rule}")
        if spec.prompt is not None:
            spec.prompt_text()  # readable, with its placeholders
        return spec

    def prompt_text(self) -> str:
        if self.prompt is None:
            return PROMPT
        path = Path(self.prompt)
        if not path.is_file():
            raise JudgeOptionError(("prompt",), f"judge.prompt {path}: no such file")
        text = path.read_text(encoding="utf-8")
        missing = [p for p in ("{problem}", "{candidate}") if p not in text]
        if missing:
            raise JudgeOptionError(("prompt",), f"judge.prompt {path}: has no {' or '.join(missing)} placeholder")
        return text

    def cache_path(self) -> Path:
        if self.cache:
            return Path(self.cache).expanduser()
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        return base / "r1-factory" / "judge.sqlite"

    def identity(self) -> dict:
        """What makes two verdicts interchangeable: the model (its files' fingerprint when local), the
        prompts, what is shown and how it samples. The cache keys on its digest."""
        return {"model": fingerprint(self.model), "prompt": self.prompt_text(), "prompt_no_reference":
                PROMPT_NO_REFERENCE, "show": self.show, "temperature": self.temperature, "top_p": self.top_p,
                "max_tokens": self.max_tokens, "structured": self.structured}

    def sampling(self) -> dict:
        return {"temperature": self.temperature, "top_p": self.top_p, "max_tokens": self.max_tokens,
                "json_schema": JUDGE_SCHEMA if self.structured else None}

    def wants(self, rule: str | None, has_reference: bool) -> bool:
        """Whether a row still in, whose rule verdict is `rule` ("correct", a reason, None: no check),
        goes to the judge."""
        if rule is None:
            return False
        if not has_reference or rule in NO_REFERENCE:
            return self.when in ("no_reference", "all")
        if self.when in ("all", "no_reference"):
            return self.when == "all"
        undecided = rule.startswith(UNDECIDED)
        return undecided or (self.when == "rejected" and rule != "correct")


def fingerprint(model: str) -> str:
    """A local model folder's content digest (its config, tokenizer and the names and sizes of its
    weight files), so a retrained model under the same path is a new judge; a Hub id or a served
    name as itself."""
    path = Path(model)
    if not path.is_dir():
        return model
    h = hashlib.sha256()
    for f in sorted(path.iterdir()):
        if f.suffix in (".json", ".jinja", ".txt", ".model") and f.is_file():
            h.update(f.name.encode() + b"\0" + f.read_bytes())
        elif f.suffix in (".safetensors", ".bin", ".pt", ".gguf") and f.is_file():
            h.update(f"{f.name}\0{f.stat().st_size}".encode())
    return f"{path.name}@sha256:{h.hexdigest()[:16]}"


def candidate(row: dict, show: str) -> str:
    """What the judge reads of the row's answer: its final answer (the response's end when it
    marked none), or the whole response (its end, when long)."""
    response = row.get("response")
    if response is None and isinstance(row.get("completion"), str):
        response = split_completion(row["completion"])[1]
    response = response or ""
    if show == "answer":
        answer = extract_answer(response)
        if answer is not None:
            return answer
        return "(no final answer marked; the response ends:)\n" + response[-1_500:]
    return response[-MAX_CANDIDATE_CHARS:]


def render(spec_prompt: str, row: dict, show: str) -> str:
    """The judge's user message for a row (the reference-less prompt when it has none)."""
    reference = row.get("answer") or row.get("_majority")
    values = {"problem": row.get("problem") or "", "candidate": candidate(row, show),
              "reference": reference or ""}
    template = spec_prompt if reference else PROMPT_NO_REFERENCE
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


_PLACEHOLDER = re.compile(r"\{(problem|reference|candidate)\}")


_VERDICT_WORDS = {"correct": True, "incorrect": False, "wrong": False, "true": True, "false": False,
                  "yes": True, "no": False, "equivalent": True, "not equivalent": False}
_LINE = re.compile(r"verdict\W{0,4}(correct|incorrect|wrong|true|false|yes|no)\b", re.I)


def parse_verdict(text: str) -> tuple[bool | None, str]:
    """(correct?, one-line reason) of the judge's reply; (None, "unreadable: …") when the reply says
    no verdict that can be read. A reasoning judge's <think> block is skipped."""
    reply = split_completion(text)[1] if "</think>" in text else text
    reply = (reply or "").strip()
    for obj in _json_objects(reply):
        word = str(obj.get("verdict", "")).strip().lower()
        if word in _VERDICT_WORDS:
            return _VERDICT_WORDS[word], _one_line(str(obj.get("reason", "")))
    found = _LINE.findall(reply)
    if found:
        return _VERDICT_WORDS[found[-1].lower()], _one_line(reply.splitlines()[-1])
    return None, "unreadable: " + (_one_line(reply) or "(empty reply)")


def _json_objects(text: str):
    """The JSON objects in `text`, last first (a judge may restate its verdict)."""
    decoder = json.JSONDecoder()
    found, i = [], text.find("{")
    while i != -1:
        try:
            obj, end = decoder.raw_decode(text, i)
        except json.JSONDecodeError:
            i = text.find("{", i + 1)
            continue
        if isinstance(obj, dict):
            found.append(obj)
        i = text.find("{", end)
    return reversed(found)


def _one_line(text: str, limit: int = 200) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[:limit - 1] + "…"


def combine(rule: bool | None, judge: bool | None, policy: str) -> bool | None:
    """The row's answer verdict from the rule's and the judge's (None: neither decided).
    rule_or_judge: correct if either says so; judge: the judge decides (the rule where the judge
    gave no verdict); rule_and_judge: correct only if both say so."""
    if policy == "judge":
        return judge if judge is not None else rule
    if policy == "rule_and_judge":
        return bool(rule) and bool(judge) if judge is not None else (False if rule is not None else None)
    if rule or judge:
        return True
    return False if (rule is False or judge is False) else None
