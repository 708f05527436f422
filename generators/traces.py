"""A completion becomes a trace row; the trace schema every later step reads.

Columns (documented in README.md, "Trace schema"): the fixed ones below, then
the problem source's other fields, carried as they were.
"""

from __future__ import annotations

from generators.prompts import THINK_PREFIX

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"


def trace_schema(extra_schema=None):
    import pyarrow as pa

    fields = [
        pa.field("problem_id", pa.string(), nullable=False),
        pa.field("sample", pa.int32(), nullable=False),
        pa.field("domain", pa.string()),
        pa.field("problem", pa.string()),
        pa.field("answer", pa.string()),
        pa.field("prompt", pa.string()),
        pa.field("completion", pa.string()),
        pa.field("reasoning", pa.string()),
        pa.field("response", pa.string()),
        pa.field("finish_reason", pa.string()),
        pa.field("prompt_tokens", pa.int32()),
        pa.field("completion_tokens", pa.int32()),
        pa.field("teacher", pa.string()),
        pa.field("temperature", pa.float64()),
        pa.field("top_p", pa.float64()),
        pa.field("max_tokens", pa.int32()),
        pa.field("seed", pa.int64()),
    ]
    if extra_schema is not None:
        fields += list(extra_schema)
    return pa.schema(fields)


TRACE_COLUMNS = frozenset(trace_schema().names)


def split_completion(completion: str) -> tuple[str, str | None]:
    """(reasoning, response) of a completion that opens with `<think>`.

    reasoning: text inside the first think block (to the end if it never
    closes). response: text after the first `</think>`, or None when the
    block never closes (a truncated or malformed trace).
    """
    body = completion
    if body.startswith(THINK_OPEN):
        body = body[len(THINK_OPEN):]
    head, sep, tail = body.partition(THINK_CLOSE)
    if not sep:
        return head.strip(), None
    return head.strip(), tail.strip()


def make_row(problem: dict, user_prompt: str, completion_text: str, *, sample: int, finish_reason: str,
             prompt_tokens: int, completion_tokens: int, teacher: str, temperature: float,
             top_p: float, max_tokens: int, seed: int) -> dict:
    completion = THINK_PREFIX + completion_text
    reasoning, response = split_completion(completion)
    row = dict(problem)  # problem_id, problem, answer, domain + carried fields
    row.update(sample=sample, prompt=user_prompt, completion=completion, reasoning=reasoning,
               response=response, finish_reason=finish_reason, prompt_tokens=prompt_tokens,
               completion_tokens=completion_tokens, teacher=teacher, temperature=temperature,
               top_p=top_p, max_tokens=max_tokens, seed=seed)
    return row
