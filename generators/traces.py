"""A completion becomes a trace row (the format itself is factory/core/traces.py)."""

from __future__ import annotations

from factory.core.traces import NO_THINK, THINK_PREFIX, split_completion
from generators.general import TeacherTurn


def make_row(problem: dict, turn: TeacherTurn, completion_text: str, *, sample: int, finish_reason: str,
             prompt_tokens: int, completion_tokens: int, teacher: str, temperature: float,
             top_p: float, max_tokens: int, seed: int) -> dict:
    """The trace row; `prompt` is the user turn a student is trained on (a general row's message, not
    the reference the teacher was shown: that is `teacher_prompt`)."""
    completion = (THINK_PREFIX if turn.think else NO_THINK) + completion_text
    reasoning, response = split_completion(completion)
    row = {"history": None, **problem}  # problem_id, problem, answer, domain, history + carried fields
    user_prompt = problem["problem"] if turn.cot else turn.user
    row.update(cot=turn.cot, cot_rule=turn.cot_rule, teacher_prompt=turn.user if turn.user != user_prompt else None)
    row.update(sample=sample, prompt=user_prompt, completion=completion, reasoning=reasoning,
               response=response, finish_reason=finish_reason, prompt_tokens=prompt_tokens,
               completion_tokens=completion_tokens, teacher=teacher, temperature=temperature,
               top_p=top_p, max_tokens=max_tokens, seed=seed)
    return row
