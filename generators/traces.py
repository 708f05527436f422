"""A completion becomes a trace row (the format itself is factory/core/traces.py)."""

from __future__ import annotations

from factory.core.traces import THINK_PREFIX, split_completion


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
