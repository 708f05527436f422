"""Dedup: drop exact and near-duplicate completions of the same problem, and
cap the samples kept per problem.

Exact: the completion's normalised words (case, spacing and punctuation
ignored). Near: MinHash over word 5-grams (128 multiply-shift permutations),
a duplicate when the estimated Jaccard similarity with an already kept
completion of the same problem reaches `threshold`. Signatures are computed
by `signature()` in the worker processes; `reject()` runs in the main
process, in input order, because it remembers what was kept.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from filters.base import Filter, register
from filters.text import ngram_hashes, normalised_text, word_hashes

_RNG = np.random.default_rng(20250122)  # fixed: signatures must agree across processes and runs


@register
@dataclass
class DedupFilter(Filter):
    name = "dedup"
    threshold: float = 0.8
    shingle: int = 5
    num_perm: int = 128
    max_per_problem: int | None = None
    _kept: dict = field(default_factory=lambda: defaultdict(list), init=False, repr=False)
    _exact: dict = field(default_factory=lambda: defaultdict(set), init=False, repr=False)

    def __post_init__(self):
        self._a = (_RNG.integers(1, 2 ** 63, self.num_perm, dtype=np.uint64) << np.uint64(1)) | np.uint64(1)
        self._b = _RNG.integers(0, 2 ** 63, self.num_perm, dtype=np.uint64)

    def features(self, completion: str) -> tuple[bytes, np.ndarray]:
        """(exact key, MinHash signature); pure, so it runs in any process."""
        key = hashlib.blake2b(normalised_text(completion).encode(), digest_size=16).digest()
        shingles = ngram_hashes(word_hashes(completion), self.shingle)
        if not len(shingles):
            return key, np.full(self.num_perm, np.iinfo(np.uint64).max, dtype=np.uint64)
        with np.errstate(over="ignore"):
            sig = (shingles[:, None] * self._a[None, :] + self._b[None, :]).min(axis=0)
        return key, sig

    def reject(self, row: dict) -> str | None:
        pid = row["problem_id"]
        key, sig = row.get("_dedup") or self.features(row.get("completion") or "")
        if key in self._exact[pid]:
            return "exact_duplicate"
        for other in self._kept[pid]:
            if float(np.mean(other == sig)) >= self.threshold:
                return "near_duplicate"
        if self.max_per_problem is not None and len(self._kept[pid]) >= self.max_per_problem:
            return "over_cap"
        self._exact[pid].add(key)
        self._kept[pid].append(sig)
        return None
