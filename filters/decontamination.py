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
from filters.text import ngram_hashes, normalised_text, row_word_hashes, word_hashes

SHIPPED = Path(__file__).resolve().parents[1] / "factory" / "data" / "benchmarks"
DEFAULT_BENCHMARKS = ["math500", "aime24", "amc23", "minerva_math", "olympiadbench", "gsm8k_test", "lab"]


def benchmark_problems(spec: str) -> tuple[str, list[str]]:
    """(name, problems) of a shipped benchmark name, a file, or a Hub dataset."""
    from generators.problems import load_problems

    path = SHIPPED / f"{spec}.jsonl"
    source = str(path) if path.exists() else spec
    name = spec if path.exists() else Path(spec).stem if Path(spec).exists() else spec
    return name, [r["problem"] for r in load_problems(source).rows]


# Built once per process (and inherited by forked workers): ~3k problems → ~200k n-grams.
_INDEXES: dict[tuple, tuple] = {}
_BITMAP_BITS = 24


def _build_index(ngram: int, specs: list[str]):
    hashes, owners, names, exact = [], [], [], {}
    for spec in specs:
        name, problems = benchmark_problems(spec)
        names.append(name)
        for p in problems:
            h = ngram_hashes(word_hashes(p), ngram)
            hashes.append(h)
            owners.append(np.full(len(h), len(names) - 1, dtype=np.int32))
            exact.setdefault(normalised_text(p), name)
    all_h = np.concatenate(hashes) if hashes else np.empty(0, np.uint64)
    order = np.argsort(all_h, kind="stable")
    all_owners = np.concatenate(owners)[order] if owners else np.empty(0, np.int32)
    # A bitmap of the hashes' low bits answers "surely absent" for almost every
    # n-gram of a trace with one gather; only the rare candidates are searched.
    bitmap = np.zeros(1 << _BITMAP_BITS, dtype=bool)
    bitmap[(all_h & np.uint64((1 << _BITMAP_BITS) - 1)).astype(np.intp)] = True
    return names, exact, all_h[order], all_owners, bitmap


@register
@dataclass
class DecontaminationFilter(Filter):
    name = "decontamination"
    ngram: int = 8
    benchmarks: list[str] = field(default_factory=lambda: list(DEFAULT_BENCHMARKS))
    extra: list[str] = field(default_factory=list)

    def __post_init__(self):
        key = (self.ngram, tuple(self.benchmarks), tuple(self.extra))
        if key not in _INDEXES:
            _INDEXES[key] = _build_index(self.ngram, self.benchmarks + self.extra)
        self.names, self.exact, self._hashes, self._owners, self._bitmap = _INDEXES[key]

    def match(self, hashes) -> str | None:
        h = ngram_hashes(hashes, self.ngram)
        if not len(h) or not len(self._hashes):
            return None
        h = h[self._bitmap[(h & np.uint64((1 << _BITMAP_BITS) - 1)).astype(np.intp)]]
        if not len(h):
            return None
        idx = np.searchsorted(self._hashes, h)
        idx[idx == len(self._hashes)] = 0
        hit = np.nonzero(self._hashes[idx] == h)[0]
        return self.names[self._owners[idx[hit[0]]]] if len(hit) else None

    def reject(self, row: dict) -> str | None:
        problem = row.get("problem") or ""
        name = self.exact.get(normalised_text(problem))
        for column in ("problem", "response", "reasoning"):
            name = name or self.match(row_word_hashes(row, column))
            if name:
                return f"contaminated:{name}"
        return None
