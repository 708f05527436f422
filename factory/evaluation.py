"""Evaluation the way the R1 paper reports it, built from the factory's own parts.

For each benchmark: the generation path samples k answers per problem (same
prompt template, same backends, resumable: samples are a generate run under
OUT/samples/<benchmark>), the correctness filter grades them (same answer
extraction, fast path and killable math-verify pool, under OUT/graded/), and
the scores are

  pass@1   mean over problems of (correct samples / k), with its standard error
           over problems (the paper's pass@1 with k samples at temperature 0.6)
  cons@k   share of problems whose majority answer (most frequent normalised
           final answer among the k samples; ties to the first seen) is correct
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from factory.core import layout, outdir
from factory.core.cli import LogOptions
from factory.core.errors import InputError
from factory.core.inputs import looks_like_hub_id
from factory.core.layout import BENCHMARKS_DIR
from factory.core.manifest import package_versions
from factory.core.shards import atomic_write_bytes, atomic_write_json
from filters.answers import extract_answer, normalise
from filters.chain import FilterRunConfig
from filters.chain import run as grade
from filters.config import FilterConfig
from filters.flaws import output_flaw_rates
from generators.backend import TeacherBackend, TeacherOptions, make_backend
from generators.config import GenerateConfig
from generators.options import ProblemOptions, SamplingOptions, ShardOptions, project
from generators.run import main as generate


def _h(text: str) -> dict:
    return {"help": text}


def shipped_benchmarks() -> list[str]:
    return sorted(p.stem for p in BENCHMARKS_DIR.glob("*.jsonl"))


def resolve_benchmark(spec: str) -> tuple[str, str]:
    """(name, source) of a shipped name, a local file, or a Hub dataset id."""
    if (BENCHMARKS_DIR / f"{spec}.jsonl").is_file():
        return spec, str(BENCHMARKS_DIR / f"{spec}.jsonl")
    path = Path(spec)
    if path.exists():
        return path.stem, str(path)
    if looks_like_hub_id(spec):
        return spec.replace("/", "__"), spec
    raise InputError(f"unknown benchmark {spec!r}; shipped: {', '.join(shipped_benchmarks())} "
                     "(or give a .jsonl/.parquet path or a Hub dataset id)")


@dataclass
class Sample:
    problem_id: str
    correct: bool
    answer: str | None     # normalised final answer, for the majority vote


def scores(samples: list[Sample]) -> dict:
    """pass@1 (± standard error over problems) and cons@k from graded samples."""
    by_problem: dict[str, list[Sample]] = defaultdict(list)
    for s in samples:
        by_problem[s.problem_id].append(s)
    if not by_problem:
        raise ValueError("no graded samples")
    per_problem, majority_correct = [], 0
    for group in by_problem.values():
        per_problem.append(sum(s.correct for s in group) / len(group))
        votes = Counter(s.answer for s in group if s.answer is not None)
        if votes:
            top = max(votes.values())
            winner = next(s.answer for s in group if s.answer is not None and votes[s.answer] == top)
            majority_correct += any(s.correct for s in group if s.answer == winner)
    n = len(per_problem)
    mean = sum(per_problem) / n
    var = sum((p - mean) ** 2 for p in per_problem) / (n - 1) if n > 1 else 0.0
    return {"problems": n, "samples": len(samples), "pass@1": mean, "pass@1_se": math.sqrt(var / n),
            "cons@k": majority_correct / n}


_ROW_COLUMNS = ("problem_id", "problem", "domain", "completion", "reasoning", "response", "finish_reason",
                "completion_tokens", "reject_reason")


def graded_samples(graded_dir: Path) -> tuple[list[Sample], Counter, dict]:
    """Samples from a filter output whose only filter was correctness, their
    verdicts, and the flaws in them (filters/flaws.py: language mixing,
    loops or truncation, code in the reasoning, malformed output, mean length)."""
    import pyarrow.parquet as pq

    out, reasons, rows = [], Counter(), []
    for part, accepted in ((layout.ACCEPTED, True), (layout.REJECTED, False)):
        folder = graded_dir / part
        if not folder.is_dir() or not list(folder.glob("*.parquet")):
            continue
        dataset = pq.ParquetDataset(folder)
        table = dataset.read(columns=[c for c in _ROW_COLUMNS if c in dataset.schema.names])
        for row in table.to_pylist():
            out.append(Sample(row["problem_id"], accepted, _vote(row)))
            reasons[row["reject_reason"] or "correct"] += 1
            rows.append(row)
    return out, reasons, output_flaw_rates(rows, [s.correct for s in out])


def _vote(row: dict) -> str | None:
    """What a sample votes for in cons@k: its normalised final answer; a general reply, its words."""
    if row.get("domain") == "general":
        return " ".join((row.get("response") or "").split()).casefold() or None
    ans = extract_answer(row.get("response") or "")
    return normalise(ans) if ans is not None else None


GRADER = {"correctness": {"no_reference": "drop", "domains": ["math"]}}  # the correctness filter alone


def grade_and_score(samples_dir: Path, graded_dir: Path, verify_timeout: float = 5.0) -> dict:
    """Grade a generate run with the correctness filter alone, then score it."""
    graded_dir.parent.mkdir(parents=True, exist_ok=True)
    grade(FilterRunConfig(input=str(samples_dir), out=graded_dir, overwrite=True),
          FilterConfig(filters=json.loads(json.dumps(GRADER)), verify_timeout=verify_timeout, source="the evaluation grader"))
    samples, verdicts, flaws = graded_samples(graded_dir)
    return {**scores(samples), "verdicts": dict(verdicts), "flaws": flaws}


def markdown(results: list[dict]) -> str:
    """One table: a row per benchmark, a column per model."""
    names = [r["model"] for r in results]
    benches = list(dict.fromkeys(b for r in results for b in r["benchmarks"]))
    lines = ["| benchmark | k | " + " | ".join(f"{n} pass@1 | {n} cons@k" for n in names) + " |",
             "|---|---|" + "---|---|" * len(names)]
    for b in benches:
        ks = {str(r["benchmarks"][b]["k"]) for r in results if b in r["benchmarks"]}
        cells = []
        for r in results:
            s = r["benchmarks"].get(b)
            cells += ([f"{100 * s['pass@1']:.1f} ± {100 * s['pass@1_se']:.1f}", f"{100 * s['cons@k']:.1f}"]
                      if s else ["-", "-"])
        lines.append(f"| {b} | {'/'.join(sorted(ks))} | " + " | ".join(cells) + " |")
    return "\n".join(lines + _flaw_lines(results, benches))


def _flaw_lines(results: list[dict], benches: list[str]) -> list[str]:
    """The flaws in each model's own samples (filters/flaws.py), a row per benchmark and model."""
    rows = [(b, r["model"], r["benchmarks"][b]["flaws"]) for b in benches for r in results
            if "flaws" in r["benchmarks"].get(b, {})]
    if not rows:
        return []
    pct = lambda x: f"{100 * x:.1f}%"  # noqa: E731
    out = ["", "Flaws in the samples (share of samples; filters/flaws.py):", "",
           "| benchmark | model | mixed language | loop / truncated | code in reasoning | malformed | wrong answer "
           "| mean tokens | pass@1 of clean samples |", "|---|---|---|---|---|---|---|---|---|"]
    for b, model, f in rows:
        clean = "-" if f.get("clean_pass@1") is None else f"{100 * f['clean_pass@1']:.1f}"
        out.append(f"| {b} | {model} | {pct(f['mixed_language'])} | {pct(f['loop_truncated'])} | {pct(f['code'])} "
                   f"| {pct(f['malformed'])} | {pct(f.get('wrong_answer', 0))} | {f['mean_completion_tokens']:.0f} "
                   f"| {clean} |")
    return out


def load_results(paths: list[str]) -> list[dict]:
    results = []
    for p in paths:
        try:
            data = json.loads(Path(p).read_text())
        except FileNotFoundError:
            raise InputError(f"--compare {p}: no such file") from None
        except json.JSONDecodeError as e:
            raise InputError(f"{p}:{e.lineno}: not valid JSON ({e.msg})") from None
        if "benchmarks" not in data or "model" not in data:
            raise InputError(f"{p}: not a `factory.evaluate` results file")
        results.append(data)
    return results


@dataclass(kw_only=True)
class EvaluateConfig(SamplingOptions, ProblemOptions, TeacherOptions, ShardOptions, LogOptions):
    """Every option of a generate run (generators/options.py, generators/backend.py) reaches the sampling runs."""

    model: str = field(default="", metadata=_h("model to score: local path or Hub id (the farm's served name)"))
    out: Path | None = field(default=None, metadata=_h("output folder: samples/, graded/, results.json, results.md"))
    benchmarks: list[str] = field(default_factory=lambda: ["math500"],
                                  metadata=_h("shipped names, file paths or Hub ids"))
    k: list[str] = field(default_factory=list, metadata=_h("per-benchmark k, e.g. aime24=64,math500=4"))
    verify_timeout: float = field(default=5.0, metadata=_h("seconds one math-verify call may take"))
    compare: list[str] = field(default_factory=list, metadata={
        "help": "print these results.json files side by side, and exit", "nargs": "+"})

    def __post_init__(self):
        if not self.compare:
            super().__post_init__()

    def check(self):
        if not self.model or self.out is None:
            raise ValueError("--model and --out are required (or --compare RESULTS.json …)")
        self.out = Path(self.out)
        for item in self.k:
            name, _, value = item.partition("=")
            if not value.isdigit() or int(value) < 1:
                raise ValueError(f"--k {item!r}: expected BENCHMARK=K with K >= 1")

    def k_for(self, name: str) -> int:
        overrides = dict(item.split("=", 1) for item in self.k)
        return int(overrides.get(name, self.samples))


def generate_configs(config: EvaluateConfig) -> dict:
    """One generate run per benchmark: every shared option projected, k samples, OUT/samples/<name>.
    A general benchmark's model sees the user's message alone (`answer` mode), never its reference."""
    return {name: project(config, GenerateConfig, problems=source, teacher=config.model,
                          out=config.out / "samples" / name, samples=config.k_for(name), general_mode="answer")
            for name, source in (resolve_benchmark(b) for b in config.benchmarks)}


def evaluate(config: EvaluateConfig, backend: TeacherBackend | None = None) -> dict:
    """Sample, grade and score every benchmark; writes OUT/results.json and OUT/results.md.
    `backend` may be passed in to share a teacher (the demo's, tests'); otherwise the first
    benchmark's config builds one (generators/backend.py) that serves them all."""
    runs = generate_configs(config)  # unknown benchmark names fail before any work
    if not config.endpoints and not Path(config.model).exists() and not looks_like_hub_id(config.model):
        raise InputError(f"--model {config.model}: no such folder (and not a Hub model id like org/name)")
    if config.dry_run:
        for name, gen in runs.items():
            print(f"== {name}")
            generate(gen)
        return {}
    inputs = {"--model": config.model, **{f"--benchmarks {name}": gen.problems for name, gen in runs.items()}}
    with outdir.claim(config.out, "evaluate", inputs=inputs) as claim:
        claim.check()
        owned = backend is None
        results = {"model": config.model, "protocol": {"temperature": config.temperature, "top_p": config.top_p,
                                                       "max_tokens": config.max_tokens, "seed": config.seed,
                                                       "prompt": "zero-shot, <think>-forced (generators/templates)"},
                   "benchmarks": {}, "versions": package_versions()}
        try:
            for name, gen in runs.items():
                if backend is None:
                    backend = make_backend(gen)
                claim.make()
                print(f"== {name}: {config.k_for(name)} samples per problem")
                summary = generate(gen, backend=backend)
                scored = grade_and_score(gen.out, config.out / "graded" / name, config.verify_timeout)
                results["benchmarks"][name] = {**scored, "k": config.k_for(name), "source": gen.problems,
                                               "finish_reasons": summary.finish_reasons}
        finally:
            if owned and backend is not None:
                backend.close()
        atomic_write_json(config.out / "results.json", results)
        atomic_write_bytes(config.out / "results.md", (markdown([results]) + "\n").encode())
    return results
