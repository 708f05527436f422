"""Teacher backends: the one interface they share, the one map of their names, the one flag.

A backend turns `Request`s into `Completion`s. The run loop (generators/run.py), evaluation
(factory/evaluation.py) and the filter's judge (filters/judge.py) all hold one through
`TeacherBackend` (declared on the ground floor, factory/core/teacher.py) and nothing else:
what it can do is what the protocol says, never guessed with `getattr`. `--backend NAME` picks one from `BACKENDS`; each
backend class names the option groups it reads (generators/options.py), builds itself from
a run's config, and writes its own lines of the dry run.

Adding a backend (an SGLang server, say) is one file with its class (and its option group,
if it has flags), plus its line in `BACKENDS` and its group in `TeacherOptions` below.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from factory.core.teacher import TeacherBackend
from generators.engine import EngineBackend
from generators.farm import FarmBackend
from generators.options import EngineOptions, FarmOptions, Options, PlanOptions, RayOptions, changed_flags
from generators.ray_backend import RayBackend

if TYPE_CHECKING:
    from generators.config import GenerateConfig


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

