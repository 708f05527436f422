"""Decontamination: drop traces that overlap an evaluation benchmark.

A row is contaminated when its problem, reasoning or response shares a word
n-gram (default 8, as in open-r1 and OpenThoughts) with a benchmark problem,
or its problem is a benchmark problem word for word. The reason names the
benchmark: `contaminated:math500`. The benchmarks shipped in
`factory/data/benchmarks/` are checked by default; `extra` adds JSONL /
Parquet files or Hub datasets (their `problem` field).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from filters.base import Filter, register
from filters.text import ngram_hashes, normalised_text, word_hashes

SHIPPED = Path(__file__).resolve().parents[1] / "factory" / "data" / "benchmarks"
DEFAULT_BENCHMARKS = ["math500", "aime24", "amc23", "minerva_math", "olympiadbench", "gsm8k_test"]


def benchmark_problems(spec: str) -> tuple[str, list[str]]:
    """(name, problems) of a shipped benchmark name, a file, or a Hub dataset."""
    from generators.problems import load_problems

    path = SHIPPED / f"{spec}.jsonl"
    source = str(path) if path.exists() else spec
    name = spec if path.exists() else Path(spec).stem if Path(spec).exists() else spec
    return name, [r["problem"] for r in load_problems(source).rows]


@register
@dataclass
class DecontaminationFilter(Filter):
    name = "decontamination"
    ngram: int = 8
    benchmarks: list[str] = field(default_factory=lambda: list(DEFAULT_BENCHMARKS))
    extra: list[str] = field(default_factory=list)

    def __post_init__(self):
        hashes, owners, self.names, self.exact = [], [], [], {}
        for spec in self.benchmarks + self.extra:
            name, problems = benchmark_problems(spec)
            self.names.append(name)
            for p in problems:
                h = ngram_hashes(word_hashes(p), self.ngram)
                hashes.append(h)
                owners.append(np.full(len(h), len(self.names) - 1, dtype=np.int32))
                self.exact.setdefault(normalised_text(p), name)
        all_h = np.concatenate(hashes) if hashes else np.empty(0, np.uint64)
        order = np.argsort(all_h, kind="stable")
        self._hashes = all_h[order]
        self._owners = np.concatenate(owners)[order] if owners else np.empty(0, np.int32)

    def match(self, text: str) -> str | None:
        h = ngram_hashes(word_hashes(text), self.ngram)
        if not len(h) or not len(self._hashes):
            return None
        idx = np.searchsorted(self._hashes, h)
        idx[idx == len(self._hashes)] = 0
        hit = np.nonzero(self._hashes[idx] == h)[0]
        return self.names[self._owners[idx[hit[0]]]] if len(hit) else None

    def reject(self, row: dict) -> str | None:
        problem = row.get("problem") or ""
        name = self.exact.get(normalised_text(problem))
        for text in (problem, row.get("response") or "", row.get("reasoning") or ""):
            name = name or self.match(text)
            if name:
                return f"contaminated:{name}"
        return None
