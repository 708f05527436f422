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
from dataclasses import dataclass
from pathlib import Path

from factory.core.errors import InputError

BENCHMARKS_DIR = Path(__file__).parent / "data" / "benchmarks"


def shipped_benchmarks() -> list[str]:
    return sorted(p.stem for p in BENCHMARKS_DIR.glob("*.jsonl"))


def resolve_benchmark(spec: str) -> tuple[str, str]:
    """(name, source) of a shipped name, a local file, or a Hub dataset id."""
    from generators.problems import looks_like_hub_id

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


def graded_samples(graded_dir: Path) -> tuple[list[Sample], Counter]:
    """Samples from a filter output whose only filter was correctness."""
    import pyarrow.parquet as pq

    from filters.answers import extract_answer, normalise

    out, reasons = [], Counter()
    for part, accepted in (("accepted", True), ("rejected", False)):
        folder = graded_dir / part
        if not folder.is_dir() or not list(folder.glob("*.parquet")):
            continue
        table = pq.ParquetDataset(folder).read(columns=["problem_id", "response", "reject_reason"])
        for pid, response, reason in zip(*(table.column(c).to_pylist() for c in
                                           ("problem_id", "response", "reject_reason"))):
            ans = extract_answer(response or "")
            out.append(Sample(pid, accepted, normalise(ans) if ans is not None else None))
            reasons[reason or "correct"] += 1
    return out, reasons


GRADER = "filters:\n  correctness: {no_reference: drop, domains: [math]}\nverify_timeout: %s\n"


def grade_and_score(samples_dir: Path, graded_dir: Path, verify_timeout: float = 5.0) -> dict:
    """Grade a generate run with the correctness filter alone, then score it."""
    from factory.core.shards import atomic_write_bytes
    from filters.chain import FilterRunConfig
    from filters.chain import run as grade

    graded_dir.parent.mkdir(parents=True, exist_ok=True)
    grader = graded_dir.parent / "grader.yaml"
    atomic_write_bytes(grader, (GRADER % verify_timeout).encode())
    grade(FilterRunConfig(input=str(samples_dir), out=graded_dir, config=grader, overwrite=True))
    samples, verdicts = graded_samples(graded_dir)
    return {**scores(samples), "verdicts": dict(verdicts)}


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
    return "\n".join(lines)


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
