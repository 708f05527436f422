"""Dedup, with the R1 policy: keep every distinct correct sample of a problem.

R1 kept every correct sample of a problem, and later work (OpenThoughts) found
that more samples per problem help. So by default:

- `exact_duplicate`: a completion with the same words in the same order (case,
  spacing, punctuation and LaTeX command names ignored: `content_words`, whose
  hashes decontamination has computed already) as one already kept for the
  same problem;
- `duplicate_problem`: the same problem twice in the input (two ids: two
  sources, or reformatted), found in `prepare` before the run: the same
  `problem_words` (typesetting aside), or word 3-gram Jaccard similarity at
  least `same_problem` with the same numbers and compatible reference answers
  (MinHash with banded LSH finds the candidates). When its ids carry several
  samples each (a problem set that lists the problem twice, sampled under each
  id), one id's samples are kept, the first whose sample is accepted, so the
  problem is not sampled twice as often as the others; the others' rows get this
  reason and the kept id. When each id is a single trace (a dataset with an id
  per trace), they are all samples of the one problem and are kept, distinct;
- `over_cap`: more than `max_per_problem` kept samples (off by default).

Distinct samples of a problem that merely resemble each other are kept. The
trace-level near-duplicate check of earlier versions stays available:
`threshold: 0.8` drops a completion whose MinHash Jaccard similarity (word
5-grams) with a kept one of the same problem reaches it (`near_duplicate`).
Signatures are one-permutation MinHash (Li, Owen & Zhang, 2012): shingle
hashes are spread over `num_perm` bins and each bin keeps its minimum.

A group filter (filters/base.py `GroupFilter`): `features()` runs next to the
row filters, wherever they run; `decide()` runs in input order within each
same-problem group, because it remembers what was kept.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from filters.answers import normalise
from filters.base import GroupFilter, Problems, Reason, register
from filters.text import hash_words, is_number, mix, ngram_hashes, problem_words, row_word_hashes

# Signatures are kept for every kept row of the run (800k rows → 400 MB at
# 128 bins): 32 bits per bin make a false bin match a 1-in-4-billion event.
EMPTY = np.iinfo(np.uint32).max
_PROBLEM_SHINGLE = 3
_BANDS, _ROWS = 16, 4                   # 64 MinHash values per problem: P(candidate | J=0.8) > 0.999
_SEEDS = mix(np.arange(1, _BANDS * _ROWS + 1, dtype=np.uint64))


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Jaccard estimate of two one-permutation signatures (bins empty in both are skipped)."""
    used = (a != EMPTY) | (b != EMPTY)
    n = int(used.sum())
    return float(((a == b) & used).sum()) / n if n else 1.0


class _Groups:
    """Union-find over problem indexes."""

    def __init__(self, n: int):
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> None:
        a, b = self.find(a), self.find(b)
        if a != b:
            self.parent[max(a, b)] = min(a, b)  # the first-seen problem names the group


def same_problem_groups(problems: Problems, threshold: float) -> dict[str, str]:
    """problem id → the first-seen id of its group, for every id in a group of two or more."""
    n = len(problems)
    groups = _Groups(n)
    exact: dict[str, int] = {}
    shingles, numbers, answers = [], [], []
    for i, (text, answer) in enumerate(zip(problems.texts, problems.answers)):
        ws = problem_words(text or "")
        key = " ".join(ws)
        if key in exact:
            groups.union(exact[key], i)
        else:
            exact[key] = i
        shingles.append(np.unique(ngram_hashes(hash_words(ws), _PROBLEM_SHINGLE)))
        numbers.append(" ".join(sorted(w for w in ws if is_number(w))))
        answers.append(normalise(answer) if answer not in (None, "") else None)

    def same(i: int, j: int) -> bool:
        if numbers[i] != numbers[j] or (answers[i] and answers[j] and answers[i] != answers[j]):
            return False
        a, b = shingles[i], shingles[j]
        inter = len(np.intersect1d(a, b, assume_unique=True))
        return inter / max(1, len(a) + len(b) - inter) >= threshold

    buckets: dict[tuple, list[int]] = defaultdict(list)
    for i, sh in enumerate(shingles):
        if len(sh) < 2:
            continue
        with np.errstate(over="ignore"):
            sig = mix(sh[:, None] ^ _SEEDS[None, :]).min(axis=0)
        for band in range(_BANDS):
            key = (band, numbers[i], sig[band * _ROWS:(band + 1) * _ROWS].tobytes())
            buckets[key].append(i)
    for members in buckets.values():
        if len(members) < 2:
            continue
        # Small buckets: every pair; large ones: against the first (other bands find the rest).
        pairs = ((a, b) for k, a in enumerate(members) for b in members[k + 1:]) if len(members) <= 16 else \
            ((members[0], b) for b in members[1:])
        for a, b in pairs:
            if groups.find(a) != groups.find(b) and same(a, b):
                groups.union(a, b)
    roots = [groups.find(i) for i in range(n)]
    sizes = defaultdict(int)
    for r in roots:
        sizes[r] += 1
    return {problems.ids[i]: problems.ids[r] for i, r in enumerate(roots) if sizes[r] > 1}


@register
@dataclass
class DedupFilter(GroupFilter):
    name = "dedup"
    same_problem: float | None = 0.8       # problems this similar are one problem; null: off
    threshold: float | None = None         # trace-level near duplicates; null: off (the R1 policy)
    shingle: int = 5
    num_perm: int = 128
    max_per_problem: int | None = None
    _group: dict = field(default_factory=dict, init=False, repr=False)      # problem id → group id
    _one_id: set = field(default_factory=set, init=False, repr=False)       # groups that keep one id
    _keeper: dict = field(default_factory=dict, init=False, repr=False)     # group id → the id kept
    _kept: dict = field(default_factory=lambda: defaultdict(list), init=False, repr=False)
    _exact: dict = field(default_factory=lambda: defaultdict(set), init=False, repr=False)

    def __post_init__(self):
        if self.num_perm < 1 or self.num_perm & (self.num_perm - 1):
            raise ValueError("dedup.num_perm must be a power of two")
        for name in ("threshold", "same_problem"):
            value = getattr(self, name)
            if value is not None and not 0 < value <= 1:
                raise ValueError(f"dedup.{name} must be in (0, 1], or null (off)")
        if self.max_per_problem is not None and self.max_per_problem < 1:
            raise ValueError("dedup.max_per_problem must be >= 1, or null (no cap)")
        self._bits = np.uint64(self.num_perm.bit_length() - 1)

    def prepare(self, problems: Problems) -> None:
        self._group = same_problem_groups(problems, self.same_problem) if self.same_problem else {}
        samples = dict(zip(problems.ids, problems.samples))
        self._one_id = {g for pid, g in self._group.items() if samples.get(pid, 0) > 1}

    def features(self, row: dict) -> tuple[bytes, np.ndarray | None]:
        """(exact key, signature or None) of the row's reasoning + response; pure, runs in any process."""
        wh = np.concatenate([row_word_hashes(row, "reasoning"), row_word_hashes(row, "response")])
        key = hashlib.blake2b(wh.tobytes(), digest_size=16).digest()
        if self.threshold is None:
            return key, None
        sig = np.full(self.num_perm, EMPTY, dtype=np.uint64)
        shingles = ngram_hashes(wh, self.shingle)
        if len(shingles):
            h = mix(shingles)
            bins = (h >> (np.uint64(64) - self._bits)).astype(np.intp) if self._bits else np.zeros(len(h), np.intp)
            np.minimum.at(sig, bins, h & np.uint64(0xFFFFFFFE))  # below EMPTY
        return key, sig.astype(np.uint32)

    def group(self, problem_id: str) -> str:
        """The first-seen id of the problem's same-problem group (`prepare`), else the id itself."""
        return self._group.get(problem_id, problem_id)

    def decide(self, problem_id: str, features: tuple[bytes, np.ndarray | None]) -> str | None:
        group = self.group(problem_id)
        keeper = self._keeper.get(group)
        if keeper is not None and keeper != problem_id and group in self._one_id:
            return Reason("duplicate_problem", kept_problem_id=keeper)
        key, sig = features
        if key in self._exact[group]:
            return "exact_duplicate"
        if sig is not None:
            for other in self._kept[group]:
                if similarity(other, sig) >= self.threshold:
                    return "near_duplicate"
        if self.max_per_problem is not None and len(self._exact[group]) >= self.max_per_problem:
            return "over_cap"
        self._keeper[group] = problem_id
        self._exact[group].add(key)  # one key per kept sample: its size is the count
        if sig is not None:
            self._kept[group].append(sig)
        return None
