"""The trace format every stage shares: the think tags, the trace columns, splitting a completion.

A completion is `<think>\\n` + the teacher's text: the reasoning inside the first think block, the
response after `</think>`; a reply given no chain of thought has an empty block (`NO_THINK`). The
columns are documented in docs/formats.md ("Trace schema"): the fixed ones below, then the problem
source's other fields, carried as they were.
"""

from __future__ import annotations

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"
THINK_PREFIX = THINK_OPEN + "\n"   # R1 forces the response to open with it
NO_THINK = f"{THINK_PREFIX}\n{THINK_CLOSE}\n\n"   # what a reply without a chain of thought opens with


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
        # Chat data (factory/core/chat.py): the turns before the prompt; whether the reply has a chain
        # of thought ("prompted", "none": R1 gave simple queries none) and the rule that said none;
        # the user turn the teacher saw where it was not `prompt` (a reference shown to it).
        pa.field("history", pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))),
        pa.field("cot", pa.string()),
        pa.field("cot_rule", pa.string()),
        pa.field("teacher_prompt", pa.string()),
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


def join_completion(reasoning: str, response: str | None) -> str:
    """The assistant turn a student learns: the think block, then the response. A response of
    None (an unfinished trace) gives the open think block alone, as the teacher left it."""
    if response is None:
        return f"{THINK_PREFIX}{reasoning.strip()}"
    return f"{THINK_PREFIX}{reasoning.strip()}\n{THINK_CLOSE}\n\n{response.strip()}"


def think_tag_counts(completion: str) -> tuple[int, int]:
    """How many times the completion opens and closes a think block."""
    return completion.count(THINK_OPEN), completion.count(THINK_CLOSE)
