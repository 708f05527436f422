"""The results as a reader sees them: one table of pass@1 and cons@k (a row per benchmark, a column
per model), the R1 paper's figures beside them (factory/evaluation/paper.py), and the flaws in the
models' own samples."""

from __future__ import annotations

import json
from pathlib import Path

from factory.core.errors import InputError
from factory.evaluation import paper


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
            cells += ([f"{100 * s['pass@1']:.1f} ± {100 * s['pass@1_se']:.1f}",
                       "-" if s.get("cons@k") is None else f"{100 * s['cons@k']:.1f}"] if s else ["-", "-"])
        lines.append(f"| {b} | {'/'.join(sorted(ks))} | " + " | ".join(cells) + " |")
    return "\n".join(lines + paper.lines(results) + _flaw_lines(results, benches))


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
