"""Teacher backends: the one interface they share, the one map of their names, the one flag.

A backend turns `Request`s into `Completion`s. The run loop (generators/run.py), evaluation
(factory/evaluation/) and the filter's judge (filters/judge.py) all hold one through
`TeacherBackend` (declared on the ground floor, factory/core/teacher.py) and nothing else:
what it can do is what the protocol says, never guessed with `getattr`. `--backend NAME` picks one from `BACKENDS`; each
backend class names the option groups it reads (generators/options.py), builds itself from
a run's config, and writes its own lines of the dry run.

Adding a backend (an SGLang server, say) is one file with its class (and its option group,
if it has flags), plus its line in `BACKENDS` and its group in `TeacherOptions` below.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from factory.core.prompts import load_tokenizer
from factory.core.teacher import TeacherBackend
from factory.core.types import check_fields, did_you_mean
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


@dataclass(kw_only=True)
class JudgeTeacherConfig(TeacherOptions):
    """A generative judge's teacher (the filter's `correctness.judge` block, filters/judge.py): the
    model and every teacher option group, with judge-sized defaults (a verdict is a short call,
    so a farm gives up on a request sooner than generation does)."""

    teacher: str
    tokenizer: str | None = None
    verbose: bool = False
    request_timeout: float = 300.0
    max_attempts: int = 3
    dead_grace: float = 60.0


class JudgeTeachers:
    """What factory.filter hands the filter pipeline to start its judge's teacher with (the
    `filters.judge.Teachers` protocol): any backend of `BACKENDS`, configured by the YAML block's
    keys as `generate` is by its flags (`endpoints`, `backend`, `replicas`, `max_model_len`…)."""

    def config(self, model: str, options: dict) -> JudgeTeacherConfig:
        if options.get("endpoints") and "backend" not in options:
            options = {**options, "backend": "farm"}   # endpoints mean a farm, as with generate's flags
        return JudgeTeacherConfig(teacher=model, **options)

    def check(self, model: str, options: dict) -> tuple[str, str] | None:
        if model.startswith(("/", "./", "../", "~")) and not Path(model).expanduser().exists():
            return "model", f"{model}: no such folder (a local model folder, or a Hub id / a farm's served name)"
        known = {f.name for f in dataclasses.fields(JudgeTeacherConfig) if f.init} - {"teacher", "tokenizer",
                                                                                    "dry_run", "verbose"}
        for key, value in options.items():
            if key not in known:
                return key, f"unknown option{did_you_mean(str(key), sorted(known))}: a judge block takes the " \
                            "judge's own keys (model, when, policy, show, …) and generate's teacher options " \
                            "(backend, endpoints, replicas, max_model_len, …; docs/filter.md)"
            if key == "backend" and value not in BACKENDS:
                return key, f"must be one of {', '.join(BACKENDS)}, not {value!r}"
            try:
                check_fields(JudgeTeacherConfig, {key: value}, lambda k: "expected")
            except ValueError as e:
                return key, str(e).removeprefix("expected: ")
        try:
            self.config(model, options)
        except ValueError as e:
            return next((k for k in options if k.replace("_", "-") in str(e)), "backend"), str(e)
        return None

    def start(self, model: str, tokenizer: str | None, options: dict) -> TeacherBackend:
        config = self.config(model, options)
        config.tokenizer = tokenizer
        return make_backend(config)

    def tokenizer(self, name: str):
        return load_tokenizer(name)
