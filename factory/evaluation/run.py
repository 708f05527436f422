"""Evaluation the way the R1 paper reports it, built from the factory's own parts.

For each benchmark (factory/evaluation/benchmarks.py): a choice or code benchmark is converted into
problem rows (OUT/benchmarks/NAME.jsonl); the generation path samples k answers per problem (same
prompt templates, same backends, resumable: a generate run under OUT/samples/NAME); the graders
(factory/evaluation/scoring.py: the correctness filter, the code-tests filter in the sandbox) grade
them under OUT/graded/NAME; the scores, the paper's figures beside them and the flaws go to
OUT/results.json and OUT/results.md.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from factory.core import outdir
from factory.core.cli import LogOptions
from factory.core.errors import InputError
from factory.core.inputs import looks_like_hub_id
from factory.core.manifest import package_versions
from factory.core.shards import atomic_write_bytes, atomic_write_json
from factory.evaluation import benchmarks, livecodebench, paper
from factory.evaluation.benchmarks import Benchmark
from factory.evaluation.report import markdown
from factory.evaluation.scoring import grade_and_score
from generators.backend import TeacherBackend, TeacherOptions, make_backend
from generators.config import GenerateConfig
from generators.options import ProblemOptions, SamplingOptions, ShardOptions, project
from generators.run import main as generate

PREPARED = "benchmarks"   # OUT/benchmarks/NAME.jsonl: a choice or code benchmark as problem rows


def _h(text: str) -> dict:
    return {"help": text}


@dataclass(kw_only=True)
class EvaluateConfig(SamplingOptions, ProblemOptions, TeacherOptions, ShardOptions, LogOptions):
    """Every option of a generate run (generators/options.py, generators/backend.py) reaches the sampling runs."""

    model: str = field(default="", metadata=_h("model to score: local path or Hub id (the farm's served name)"))
    out: Path | None = field(default=None, metadata=_h("output folder: samples/, graded/, results.json, results.md"))
    benchmarks: list[str] = field(default_factory=lambda: ["math500"], metadata=_h(
        "shipped names, gpqa_diamond, livecodebench, NAME=FILE, file paths or Hub ids"))
    k: list[str] = field(default_factory=list, metadata=_h("per-benchmark k, e.g. aime24=64,math500=4"))
    verify_timeout: float = field(default=5.0, metadata=_h("seconds one math-verify call may take"))
    paper: str = field(default="auto", metadata=_h(
        "the R1 paper's model to compare with: auto (from the student), a size (7b), a model name, or none"))
    shuffle_seed: int = field(default=0, metadata=_h("multiple choice: the seed the options' order per sample is drawn from"))
    code_release: str = field(default="release_v5", metadata=_h("LiveCodeBench release tag (release_v5, v6, v4_v5 …)"))
    code_window: str = field(default=livecodebench.R1_WINDOW, metadata=_h(
        "LiveCodeBench: keep problems whose contest date is in FROM..TO (default: the R1 paper's), or all"))
    compare: list[str] = field(default_factory=list, metadata={
        "help": "print these results.json files side by side, and exit", "nargs": "+"})

    def __post_init__(self):
        if not self.compare:
            super().__post_init__()

    def check(self):
        if not self.model or self.out is None:
            raise ValueError("--model and --out are required (or --compare RESULTS.json …)")
        self.out = Path(self.out)
        if not self.benchmarks:
            raise ValueError("--benchmarks names no benchmark")
        if not (self.verify_timeout > 0 and math.isfinite(self.verify_timeout)):
            raise ValueError(f"--verify-timeout must be a positive number of seconds, not {self.verify_timeout}")
        for item in self.k:
            name, _, value = item.partition("=")
            if not value.isdigit() or int(value) < 1:
                raise ValueError(f"--k {item!r}: expected BENCHMARK=K with K >= 1")
        livecodebench.release_files(self.code_release)
        livecodebench.parse_window(self.code_window)
        if self.paper != "auto":
            paper.match(self.paper, self.model)   # a name the table does not have fails here

    @property
    def k_overrides(self) -> dict[str, int]:
        """--k as {benchmark: k} (its items checked in `check`)."""
        return {name: int(value) for name, _, value in (item.partition("=") for item in self.k)}

    def k_for(self, name: str) -> int:
        return self.k_overrides.get(name, self.samples)


def resolve_all(config: EvaluateConfig) -> list[Benchmark]:
    """The benchmarks the specs name; InputError for an unknown one or a name given twice."""
    found = [benchmarks.resolve(spec) for spec in config.benchmarks]
    names = [b.name for b in found]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise InputError(f"--benchmarks: {', '.join(twice)} named twice")
    stray = [f"{name}={k}" for name, k in config.k_overrides.items() if name not in names]
    if stray:
        raise InputError(f"--k {','.join(stray)}: no such benchmark in --benchmarks ({', '.join(names)})")
    return found


def generate_config(config: EvaluateConfig, bench: Benchmark, prepared_dir: Path) -> GenerateConfig:
    """The generate run of one benchmark: every shared option projected, OUT/samples/<name>. A prepared
    benchmark is read from its problem rows (the limit already applied; a multiple-choice question
    shown k ways is k rows sampled once). A general benchmark's model sees the user's message alone
    (`answer` mode), never its reference."""
    k = config.k_for(bench.name)
    source = str(prepared_dir / f"{bench.name}.jsonl") if bench.prepared else bench.source
    templates = config.templates or (livecodebench.TEMPLATES if bench.kind == "code" else None)
    return project(config, GenerateConfig, problems=source, teacher=config.model, out=config.out / "samples" / bench.name,
                   samples=1 if bench.kind == "choice" else k, general_mode="answer", templates=templates,
                   limit=None if bench.prepared else config.limit)


def generate_configs(config: EvaluateConfig) -> dict[str, GenerateConfig]:
    return {b.name: generate_config(config, b, config.out / PREPARED) for b in resolve_all(config)}


def prepare(config: EvaluateConfig, bench: Benchmark) -> list[dict]:
    """A choice or code benchmark's problem rows (read and checked before anything is written)."""
    return benchmarks.problem_rows(bench, samples=config.k_for(bench.name), seed=config.shuffle_seed,
                                   limit=config.limit, release=config.code_release, window=config.code_window)


def bench_protocol(config: EvaluateConfig, bench: Benchmark) -> dict:
    """What a reader needs to reproduce one benchmark's numbers beyond the sampling settings."""
    out = {"kind": bench.kind, "source": bench.source}
    if bench.kind == "choice":
        out["shuffle_seed"] = config.shuffle_seed
    if bench.kind == "code":
        out.update(release=config.code_release if bench.hub else None, window=config.code_window)
    return out


def evaluate(config: EvaluateConfig, backend: TeacherBackend | None = None) -> dict:
    """Sample, grade and score every benchmark; writes OUT/results.json and OUT/results.md.
    `backend` may be passed in to share a teacher (the demo's, tests'); otherwise the first
    benchmark's config builds one (generators/backend.py) that serves them all."""
    benches = resolve_all(config)   # unknown benchmark names fail before any work
    if not config.endpoints and not Path(config.model).exists() and not looks_like_hub_id(config.model):
        raise InputError(f"--model {config.model}: no such folder (and not a Hub model id like org/name)")
    rows = {b.name: prepare(config, b) for b in benches if b.prepared}   # bad files fail before any write
    if config.dry_run:
        return _dry_run(config, benches, rows)
    inputs = {"--model": config.model, **{f"--benchmarks {b.name}": b.source for b in benches if not b.hub}}
    with outdir.claim(config.out, "evaluate", inputs=inputs) as claim:
        claim.check()
        owned = backend is None
        results = {"model": config.model, "protocol": {"temperature": config.temperature, "top_p": config.top_p,
                                                       "max_tokens": config.max_tokens, "seed": config.seed,
                                                       "prompt": "zero-shot, <think>-forced (generators/templates)"},
                   "benchmarks": {}, "versions": package_versions()}
        compared = paper.match(config.paper, config.model)
        if compared:
            results["paper"] = paper.comparison(compared)
        try:
            for bench in benches:
                claim.make()
                gen = generate_config(config, bench, config.out / PREPARED)
                if bench.prepared:
                    benchmarks.write_problems(Path(gen.problems), rows[bench.name])
                if backend is None:
                    backend = make_backend(gen)
                print(f"== {bench.name}: {config.k_for(bench.name)} samples per problem")
                summary = generate(gen, backend=backend)
                scored = grade_and_score(gen.out, config.out / "graded" / bench.name, config.verify_timeout,
                                         kind=bench.kind)
                results["benchmarks"][bench.name] = {**scored, "k": config.k_for(bench.name),
                                                     **bench_protocol(config, bench),
                                                     "finish_reasons": summary.finish_reasons}
        finally:
            if owned and backend is not None:
                backend.close()
        atomic_write_json(config.out / "results.json", results)
        atomic_write_bytes(config.out / "results.md", (markdown([results]) + "\n").encode())
    return results


def _dry_run(config: EvaluateConfig, benches: list[Benchmark], rows: dict[str, list[dict]]) -> dict:
    """Each benchmark's generate plan; converted benchmarks are written to a temporary folder only."""
    with tempfile.TemporaryDirectory(prefix="factory-evaluate-") as tmp:
        for bench in benches:
            gen = generate_config(config, bench, Path(tmp))
            if bench.prepared:
                benchmarks.write_problems(Path(gen.problems), rows[bench.name])
            print(f"== {bench.name} ({bench.kind}; {config.k_for(bench.name)} samples per problem)")
            generate(gen)
    return {}
