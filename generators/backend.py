"""Teacher backends: the one interface they share, the one map of their names, the one flag.

A backend turns `Request`s into `Completion`s (generators/sampling.py). The run loop
(generators/run.py), evaluation (factory/evaluation.py) and a judge reusing a teacher all
hold one through `TeacherBackend` and nothing else: what it can do is what the protocol
says, never guessed with `getattr`. `--backend NAME` picks one from `BACKENDS`; each
backend class names the option groups it reads (generators/options.py), builds itself from
a run's config, and writes its own lines of the dry run.

Adding a backend (an SGLang server, say) is one file with its class (and its option group,
if it has flags), plus its line in `BACKENDS` and its group in `TeacherOptions` below.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Iterable, Iterator, Protocol, runtime_checkable

from generators.engine import EngineBackend
from generators.farm import FarmBackend
from generators.options import EngineOptions, FarmOptions, Options, PlanOptions, RayOptions, changed_flags
from generators.ray_backend import RayBackend
from generators.sampling import Completion, Request, SamplingSpec

if TYPE_CHECKING:
    from generators.config import GenerateConfig


@runtime_checkable
class TeacherBackend(Protocol):
    """A teacher that samples completions. Completions come back in any order, each one as it
    finishes; a rerun gets the same text for the same request (its seed is in the request)."""

    name: ClassVar[str]                          # its --backend value, and "backend" in describe()
    option_groups: ClassVar[tuple[type, ...]]    # the option groups it reads (generators/options.py)

    @classmethod
    def from_config(cls, config: GenerateConfig) -> TeacherBackend:
        """The teacher started (or reached) for a run; InputError when it cannot be."""

    @classmethod
    def plan(cls, config: GenerateConfig, pending: int) -> list[str]:
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
        """What ran, for the manifest: `backend` (its name) and its resolved settings; no secret."""

    def generate(self, requests: Iterable[Request], spec: SamplingSpec) -> Iterator[Completion]:
        """A completion per request, as each finishes; requests are read lazily, as it has room."""

    def close(self) -> None:
        """Stop what it started (engines, a Ray instance); safe to call more than once."""


# The one map from a --backend value to its class.
BACKENDS: dict[str, type[TeacherBackend]] = {
    EngineBackend.name: EngineBackend,
    FarmBackend.name: FarmBackend,
    RayBackend.name: RayBackend,
}


@dataclass(kw_only=True)
class BackendOptions(Options):
    """Which teacher backend samples the requests (generators/backend.py)."""

    backend: str | None = field(default=None, metadata={"help": (
        "engine: one in-process vLLM engine; farm: the OpenAI-compatible servers of --endpoints; "
        "ray: --replicas engines on a Ray cluster (default: farm when --endpoints are given, else engine)"),
        "choices": list(BACKENDS)})


# The bases' order is the order of the manifest's config keys (dataclass fields come from the
# last base first): keep it, so a rerun rewrites the same manifest.
@dataclass(kw_only=True)
class TeacherOptions(EngineOptions, FarmOptions, PlanOptions, RayOptions, BackendOptions):
    """Every backend's option groups, and the rules between them: --endpoints means the farm,
    a backend's own flags need that backend."""

    def check(self):
        resolve_backend(self)
        given = changed_flags(self, RayOptions)
        if self.backend != "ray" and given:
            raise ValueError(f"{', '.join(given)} need --backend ray")


def resolve_backend(config: BackendOptions | Any) -> None:
    """`config.backend` from --endpoints when not given (saying so, once), and the rules between the
    two; a config holding BackendOptions and FarmOptions (a verb's, or the demo's)."""
    if config.backend is None:
        config.backend = "farm" if config.endpoints else "engine"
        if config.endpoints:
            print("--endpoints given: --backend farm", file=sys.stderr, flush=True)
    if config.backend == "farm" and not config.endpoints:
        raise ValueError("--backend farm needs --endpoints URL,URL… (the servers to send requests to)")
    if config.backend != "farm" and config.endpoints:
        raise ValueError(f"--endpoints (the farm) and --backend {config.backend} are two different teachers; "
                         "give one (--endpoints alone means --backend farm)")


def make_backend(config: GenerateConfig) -> TeacherBackend:
    """The teacher `config.backend` names, built from its own option groups."""
    return BACKENDS[config.backend].from_config(config)
