"""Decontamination: drop rows that reproduce an evaluation benchmark problem.

A row leaks a benchmark when it *reproduces a benchmark problem*, not when it
shares a phrase with one of ~3,000 of them ("express your answer as a common
fraction" is in hundreds of problems; so is Asymptote's `draw((0,0)--…)`).
Drawings count by their coordinates only, and digit-group commas are dropped.
Two checks:

- **The problem column** (once per distinct problem), compared by
  `problem_words` (its maths kept, typesetting aside): the same words as a
  benchmark problem, or a lightly edited copy of one: at least
  `problem_similarity` of the benchmark problem's words found in order in it
  (runs of two words or more, `difflib`), with every number of the benchmark
  problem present and as much of its maths (`$…$`, `\\[…\\]`) found in order.
  A problem with other numbers, or other maths under the same words
  ("Determine all values of $x$ for which …"), is another problem.
- **The reasoning and response**, compared by `content_words` (LaTeX commands
  dropped: a trace typesets as it likes): word `ngram`-grams (8, as open-r1 and
  OpenThoughts) that are *evidence*, i.e. found in one benchmark problem only
  (or at most three: sub-questions share their preamble), with at least three
  real words (not a run of numbers and single letters),
  and not in `generic_input_problems` or more distinct problems of the input
  itself. A field leaks a benchmark problem when its evidence covers at least
  `min_coverage` of that problem's evidence-bearing words (and
  min(`min_words`, all of them)), or one verbatim run of `min_span` words.
  Phrases the row's own problem contains are not evidence against its trace:
  restating a clean problem is not a leak.

The reason names the benchmark (`contaminated:math500`); the `Reason` detail
(the chain's `reject_detail` column) names the benchmark problem id, where the
match was, its coverage and the matched words. The benchmarks shipped in
`factory/data/benchmarks/` are checked by default; `extra` adds JSONL /
Parquet files or Hub datasets (their `problem` field). `bench/decontamination.py`
measures false positives on clean problems and catches of planted leaks.
"""

from __future__ import annotations

import difflib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from factory.core.layout import BENCHMARKS_DIR
from factory.core.problems import load_problems
from filters.base import Filter, Problems, Reason, register
from filters.text import (content_words, hash_words, is_number, math_words, ngram_hashes, problem_words,
                          row_word_hashes)

SHIPPED = BENCHMARKS_DIR
DEFAULT_BENCHMARKS = ["math500", "aime24", "amc23", "minerva_math", "olympiadbench", "gsm8k_test", "lab"]
_BITMAP_BITS = 24
_RETRIEVE_NGRAM = 4       # problem check: candidates share a rare 4-gram…
_RARE_WORD_DF = 5         # …or a word at most this many benchmark problems use
_CANDIDATES = 5
_MIN_REAL_WORDS = 3       # an n-gram of numbers and single letters is maths, not text
_MAX_SHARED = 3           # an n-gram in more benchmark problems than this is phrasing
_SPAN_CHARS = 300
_MIN_MATHS = 3            # a benchmark problem with this much maths must match in its maths too


def benchmark_rows(spec: str) -> tuple[str, list[tuple[str, str]]]:
    """(name, [(problem id, problem)]) of a shipped benchmark name, a file, or a Hub dataset."""
    path = SHIPPED / f"{spec}.jsonl"
    source = str(path) if path.exists() else spec
    name = spec if path.exists() else Path(spec).stem if Path(spec).exists() else spec
    return name, [(r["problem_id"], r["problem"]) for r in load_problems(source).rows]


def benchmark_problems(spec: str) -> tuple[str, list[str]]:
    name, rows = benchmark_rows(spec)
    return name, [p for _, p in rows]


def _in_order(ws: list[str], bw: list[str]) -> tuple[float, list[str]]:
    """(share of `bw` found in `ws` in order, in runs of two words or more; the longest run)."""
    blocks = [b for b in difflib.SequenceMatcher(None, ws, bw, autojunk=False).get_matching_blocks() if b.size >= 2]
    longest = max(blocks, key=lambda b: b.size, default=None)
    return (sum(b.size for b in blocks) / max(1, len(bw)),
            bw[longest.b:longest.b + longest.size] if longest else [])


def _real_words(ws: list[str], n: int) -> np.ndarray:
    """Per n-gram position: how many of its words are real words (two letters or more)."""
    real = np.fromiter((len(w) > 1 and w.isalpha() for w in ws), dtype=np.int32, count=len(ws))
    if len(ws) < n:
        return np.empty(0, np.int32)
    c = np.concatenate([[0], np.cumsum(real)])
    return c[n:] - c[:-n]


def _dilate(starts: np.ndarray, n: int, length: int) -> np.ndarray:
    """Word mask covered by n-grams starting at `starts` (a bool mask over n-gram positions)."""
    covered = np.zeros(length + 1, np.int32)
    pos = np.nonzero(starts)[0]
    np.add.at(covered, pos, 1)
    np.add.at(covered, pos + n, -1)
    return np.cumsum(covered[:length]) > 0


def _longest_run(mask: np.ndarray) -> tuple[int, int]:
    """(start, length) of the longest run of True."""
    if not mask.any():
        return 0, 0
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.diff(padded)
    starts, ends = np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0]
    k = int(np.argmax(ends - starts))
    return int(starts[k]), int(ends[k] - starts[k])


class _Index:
    """Every benchmark problem's words, n-grams and evidence mask; a sorted index of the evidence.

    Each problem has two word lists: `problem_words` (its maths kept) for comparing
    problems with problems, `content_words` (typesetting dropped) for finding it in traces.
    """

    def __init__(self, ngram: int, specs: list[str]):
        self.benchmarks: list[str] = []
        self.bench_of, self.ids, self.words, self.pwords, self.mwords, self.numbers, self.grams = \
            [], [], [], [], [], [], []
        self.exact: dict[str, int] = {}
        for spec in specs:
            name, rows = benchmark_rows(spec)
            self.benchmarks.append(name)
            for pid, problem in rows:
                pw = problem_words(problem)
                key = " ".join(pw)
                if key in self.exact:  # the same problem twice (two benchmarks): one entry
                    continue
                self.exact[key] = len(self.ids)
                ws = content_words(problem)
                self.bench_of.append(name)
                self.ids.append(pid)
                self.words.append(ws)
                self.pwords.append(pw)
                self.mwords.append(math_words(problem))
                self.numbers.append(Counter(w for w in pw if is_number(w)))
                self.grams.append(ngram_hashes(hash_words(ws), ngram))
        # Evidence: in at most _MAX_SHARED benchmark problems (sub-questions share
        # their preamble), and made of real words.
        uniq = [np.unique(g) for g in self.grams]
        allu = np.concatenate(uniq) if uniq else np.empty(0, np.uint64)
        values, df = np.unique(allu, return_counts=True)
        shared = values[df > _MAX_SHARED]
        all_g = np.concatenate(self.grams) if self.grams else np.empty(0, np.uint64)
        private = np.split(~np.isin(all_g, shared), np.cumsum([len(g) for g in self.grams])[:-1])
        self.evidence = [p & (_real_words(ws, ngram) >= _MIN_REAL_WORDS) for p, ws in zip(private, self.words)]
        hashes = [g[e] for g, e in zip(self.grams, self.evidence)]
        owners = [np.full(len(h), j, np.int32) for j, h in enumerate(hashes)]
        all_h = np.concatenate(hashes) if hashes else np.empty(0, np.uint64)
        order = np.argsort(all_h, kind="stable")
        self.hashes = all_h[order]
        self.owners = np.concatenate(owners)[order] if owners else np.empty(0, np.int32)
        # A bitmap of the hashes' low bits answers "surely absent" for almost every
        # n-gram of a trace with one gather; only the rare candidates are searched.
        self.bitmap = np.zeros(1 << _BITMAP_BITS, dtype=bool)
        self.bitmap[(self.hashes & np.uint64((1 << _BITMAP_BITS) - 1)).astype(np.intp)] = True
        # Candidates for the problem check: rare 4-grams of real words, and rare words.
        keys: dict[int, list[int]] = {}
        word_df = Counter(w for ws in self.pwords for w in set(ws))
        short = [ngram_hashes(hash_words(ws), _RETRIEVE_NGRAM) for ws in self.pwords]
        short_df = Counter(h for g in short for h in set(g.tolist()))
        for j, (ws, g) in enumerate(zip(self.pwords, short)):
            real = _real_words(ws, _RETRIEVE_NGRAM)
            found = {h for h, r in zip(g.tolist(), real) if short_df[h] <= 2 and r >= 2}
            found |= {h for w, h in zip(ws, hash_words(ws).tolist()) if word_df[w] <= _RARE_WORD_DF and len(w) > 1}
            for h in found:
                keys.setdefault(h, []).append(j)
        self.retrieval = keys

    def lookup(self, h: np.ndarray) -> np.ndarray:
        """The distinct hashes of `h` that are evidence somewhere."""
        if not len(h) or not len(self.hashes):
            return np.empty(0, np.uint64)
        h = h[self.bitmap[(h & np.uint64((1 << _BITMAP_BITS) - 1)).astype(np.intp)]]
        if not len(h):
            return h
        idx = np.searchsorted(self.hashes, h)
        idx[idx == len(self.hashes)] = 0
        return np.unique(h[self.hashes[idx] == h])

    def owners_of(self, h: np.ndarray) -> np.ndarray:
        """The benchmark problems the (present) hashes `h` belong to."""
        lo, hi = np.searchsorted(self.hashes, h, "left"), np.searchsorted(self.hashes, h, "right")
        return np.unique(np.concatenate([self.owners[a:b] for a, b in zip(lo.tolist(), hi.tolist())]))


# Built once per process (and inherited by forked workers).
_INDEXES: dict[tuple, _Index] = {}


def _index(ngram: int, specs: tuple[str, ...]) -> _Index:
    key = (ngram, specs)
    if key not in _INDEXES:
        _INDEXES[key] = _Index(ngram, list(specs))
    return _INDEXES[key]


@register
@dataclass
class DecontaminationFilter(Filter):
    name = "decontamination"
    ngram: int = 8
    benchmarks: list[str] = field(default_factory=lambda: list(DEFAULT_BENCHMARKS))
    extra: list[str] = field(default_factory=list)
    min_coverage: float = 0.5            # of a benchmark problem's evidence words, in one field
    min_words: int = 12                  # …and at least this many (or all of them)
    min_span: int = 20                   # or one verbatim run this long
    problem_similarity: float = 0.7      # problem column: share of the benchmark problem found in order
    generic_input_problems: int = 5      # an n-gram in this many distinct input problems is phrasing

    def __post_init__(self):
        if self.ngram < 2 or self.min_words < 1 or self.min_span < self.ngram or self.generic_input_problems < 2:
            raise ValueError("decontamination: ngram >= 2, min_words >= 1, min_span >= ngram, "
                             "generic_input_problems >= 2")
        if not (0 < self.min_coverage <= 1 and 0 < self.problem_similarity <= 1):
            raise ValueError("decontamination: min_coverage and problem_similarity must be in (0, 1]")
        self._setup()

    def _setup(self) -> None:
        self._index = _index(self.ngram, tuple(self.benchmarks + self.extra))
        self._ignored = np.empty(0, np.uint64)
        self._problem_cache: dict[str, Reason | None] = {}

    def __getstate__(self):  # the index is rebuilt (or found cached) where the filter lands
        state = dict(self.__dict__)
        for k in ("_index", "_problem_cache"):
            state.pop(k, None)
        return state

    def __setstate__(self, state):
        ignored = state.pop("_ignored", None)
        self.__dict__.update(state)
        self._setup()
        if ignored is not None:
            self._ignored = ignored

    @property
    def benchmark_names(self) -> list[str]:
        return list(self._index.benchmarks)

    def evidence(self) -> Leaks:
        return Leaks(benchmarks=self.benchmark_names)

    def prepare(self, problems: Problems) -> None:
        """Evidence n-grams that `generic_input_problems` distinct input problems share are phrasing."""
        seen, hits = set(), []
        for text in problems.texts:
            ws = content_words(text or "")
            key = " ".join(ws)
            if key in seen:
                continue
            seen.add(key)
            hits.append(self._index.lookup(ngram_hashes(hash_words(ws), self.ngram)))
        if hits:
            values, df = np.unique(np.concatenate(hits), return_counts=True)
            self._ignored = np.sort(values[df >= self.generic_input_problems])
        self._problem_cache.clear()

    # -- the two checks -------------------------------------------------
    def _hit(self, j: int, where: str, coverage: float, span: list[str]) -> Reason:
        ix = self._index
        text = " ".join(span)
        return Reason(f"contaminated:{ix.bench_of[j]}", benchmark=ix.bench_of[j], benchmark_id=ix.ids[j],
                      where=where, coverage=round(coverage, 3),
                      span=text if len(text) <= _SPAN_CHARS else text[:_SPAN_CHARS] + "…")

    def check_problem(self, problem: str) -> Reason | None:
        cached = self._problem_cache.get(problem, False)
        if cached is not False:
            return cached
        if len(self._problem_cache) > 100_000:
            self._problem_cache.clear()
        found = self._problem_cache[problem] = self._check_problem(problem)
        return found

    def _check_problem(self, problem: str) -> Reason | None:
        ix = self._index
        ws = problem_words(problem)
        j = ix.exact.get(" ".join(ws))
        if j is not None:
            return self._hit(j, "problem", 1.0, ws)
        wh = hash_words(ws)
        votes: Counter = Counter()
        for h in set(ngram_hashes(wh, _RETRIEVE_NGRAM).tolist()) | set(wh.tolist()):
            for j in ix.retrieval.get(h, ()):
                votes[j] += 1
        numbers = Counter(w for w in ws if is_number(w))
        maths = None
        best = None
        for j, _ in votes.most_common(_CANDIDATES):
            if ix.numbers[j] - numbers:  # a number of the benchmark problem is missing: another problem
                continue
            share, span = _in_order(ws, ix.pwords[j])
            if share < self.problem_similarity or (best is not None and share <= best[1]):
                continue
            bm = ix.mwords[j]
            # The maths must be the benchmark problem's too (in all of the problem's words if
            # it has no maths spans: a copy may have lost its $ signs).
            if len(bm) >= _MIN_MATHS:
                if maths is None:
                    maths = math_words(problem) or ws
                if _in_order(maths, bm)[0] < self.problem_similarity:
                    continue
            best = (j, share, span)
        return self._hit(best[0], "problem", best[1], best[2]) if best else None

    def check_text(self, hashes: np.ndarray, where: str, own: np.ndarray | None = None) -> Reason | None:
        """`hashes`: the content-word hashes of one field; `own`: n-grams of the row's problem."""
        ix, n = self._index, self.ngram
        hits = ix.lookup(ngram_hashes(hashes, n))
        if len(hits) and len(self._ignored):
            hits = hits[~np.isin(hits, self._ignored)]
        if len(hits) and own is not None and len(own):
            hits = hits[~np.isin(hits, own)]
        if not len(hits):
            return None
        best = None
        for j in ix.owners_of(hits).tolist():
            grams, evidence = ix.grams[j], ix.evidence[j]
            if len(self._ignored):
                evidence = evidence & ~np.isin(grams, self._ignored)
            words = len(ix.words[j])
            matched = _dilate(evidence & np.isin(grams, hits), n, words)
            possible = int(_dilate(evidence, n, words).sum())
            covered = int(matched.sum())
            start, run = _longest_run(matched)
            coverage = covered / max(1, possible)
            if (coverage >= self.min_coverage and covered >= min(self.min_words, possible)) or run >= self.min_span:
                if best is None or coverage > best[1]:
                    best = (j, coverage, ix.words[j][start:start + run])
        return self._hit(*best[:1], where, best[1], best[2]) if best else None

    def reject(self, row: dict) -> Reason | None:
        problem = row.get("problem") or ""
        found = self.check_problem(problem)
        if found:
            return found
        own = ngram_hashes(row_word_hashes(row, "problem"), self.ngram)
        for column in ("reasoning", "response"):
            found = self.check_text(row_word_hashes(row, column), column, own)
            if found:
                return found
        return None


@dataclass
class Leaks:
    """Decontamination evidence, counted per benchmark."""

    benchmarks: list[str] = field(default_factory=list)
    rows: Counter = field(default_factory=Counter)
    ids: dict = field(default_factory=lambda: defaultdict(set))
    where: dict = field(default_factory=lambda: defaultdict(Counter))

    def add(self, detail: dict) -> None:
        bench = detail.get("benchmark", "?")
        self.rows[bench] += 1
        self.ids[bench].add(detail.get("benchmark_id"))
        self.where[bench][detail.get("where", "?")] += 1

    def summary(self) -> dict:
        return {"benchmarks": self.benchmarks,
                "leaks": {b: {"rows": self.rows[b], "benchmark_problems": len(self.ids[b]),
                              "where": dict(self.where[b])}
                          for b in list(self.benchmarks) + [b for b in self.rows if b not in self.benchmarks]}}
