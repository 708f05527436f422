"""What a teacher is, for every stage that drives one: the request and completion records, the
sampling settings, and the `TeacherBackend` protocol.

Generation samples traces through it (generators/: the in-process engine, a farm of
OpenAI-compatible servers, Ray replicas) and the filter's generative judge asks it for verdicts
(filters/judge.py): both hold a teacher through this interface and nothing else, so a stage that
judges never imports the stage that generates; the verb hands it the backend.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit
from typing import Any, ClassVar, Iterable, Iterator, Protocol, runtime_checkable

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


def redact(url: str) -> str:
    """URL without user:password@ for logs, manifests and stats."""
    parts = urlsplit(url)
    if "@" in parts.netloc:
        parts = parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[1])
    return urlunsplit(parts)


@dataclass(frozen=True)
class SamplingSpec:
    temperature: float = R1_TEMPERATURE
    top_p: float = R1_TOP_P
    max_tokens: int = R1_MAX_TOKENS
    # A JSON schema (as JSON text) the completion must follow, where the backend can constrain
    # decoding (vLLM structured outputs: the engine, Ray replicas, `vllm serve` farms); None: free text.
    json_schema: str | None = None


@dataclass(frozen=True)
class Request:
    """One (problem, sample) to generate. `key` is what resume counts on."""

    problem_id: str
    sample: int
    prompt_text: str          # full rendered prompt (a trace's ends with "<think>\n")
    prompt_token_ids: list[int]
    seed: int

    @property
    def key(self) -> tuple[str, int]:
        return (self.problem_id, self.sample)


@dataclass(frozen=True)
class Completion:
    request: Request
    text: str                 # generated text, after the prompt
    finish_reason: str        # "stop" | "length" | "abort"
    completion_tokens: int


@runtime_checkable
class TeacherBackend(Protocol):
    """A teacher that samples completions. Completions come back in any order, each one as it
    finishes; a rerun gets the same text for the same request (its seed is in the request)."""

    name: ClassVar[str]                          # its --backend value, and "backend" in describe()
    option_groups: ClassVar[tuple[type, ...]]    # the option groups it reads (generators/options.py)

    @classmethod
    def from_config(cls, config: Any) -> TeacherBackend:
        """The teacher started (or reached) for a run's config; InputError when it cannot be."""

    @classmethod
    def plan(cls, config: Any, pending: int) -> list[str]:
        """Its lines of the dry run, for `pending` pairs to generate: what would start, where.
        Starts no teacher and writes nothing."""

    @property
    def context_length(self) -> int | None:
        """Prompt + completion tokens the teacher allows (None: not known); longer prompts are
        refused before the run folder exists."""

    @property
    def stats(self) -> dict[str, Any]:
        """Its own counts for the run summary (retries, batches, work per node); {} when none."""

    def describe(self) -> dict:
        """What ran, for the manifest: `backend` (its name) and its resolved settings; no secret.
        `devices` ({kind: gpu | cpu | endpoint, count}) says what it holds while it runs: the
        generate run's device-seconds are its wall time times that count (a test double may
        leave it out: the cost is then unknown)."""

    def generate(self, requests: Iterable[Request], spec: SamplingSpec) -> Iterator[Completion]:
        """A completion per request, as each finishes; requests are read lazily, as it has room."""

    def close(self) -> None:
        """Stop what it started (engines, a Ray instance); safe to call more than once."""
