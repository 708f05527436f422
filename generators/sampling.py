"""Sampling parameters, per-sample seeds, and the request/completion records
that flow between the run loop and a teacher backend."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

# R1 defaults (DeepSeek-R1 paper, distillation and evaluation settings).
R1_TEMPERATURE = 0.6
R1_TOP_P = 0.95
R1_MAX_TOKENS = 32_768


def derive_seed(run_seed: int, problem_id: str, sample: int) -> int:
    """Seed of one (problem, sample): stable across reruns, orderings and machines.

    63 bits so it fits every backend's signed 64-bit seed field.
    """
    digest = hashlib.blake2b(f"{run_seed}\x00{problem_id}\x00{sample}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") & ((1 << 63) - 1)


@dataclass(frozen=True)
class SamplingSpec:
    temperature: float = R1_TEMPERATURE
    top_p: float = R1_TOP_P
    max_tokens: int = R1_MAX_TOKENS


@dataclass(frozen=True)
class Request:
    """One (problem, sample) to generate. `key` is what resume counts on."""

    problem_id: str
    sample: int
    prompt_text: str          # full rendered prompt, ends with "<think>\n"
    prompt_token_ids: list[int]
    seed: int

    @property
    def key(self) -> tuple[str, int]:
        return (self.problem_id, self.sample)


@dataclass(frozen=True)
class Completion:
    request: Request
    text: str                 # generated text, after the forced "<think>\n"
    finish_reason: str        # "stop" | "length" | "abort"
    completion_tokens: int
