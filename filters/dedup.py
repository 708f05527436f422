"""Dedup: drop exact and near-duplicate completions of the same problem, and
cap the samples kept per problem.

Exact: the same words in the same order (case, spacing and punctuation
ignored). Near: MinHash over word 5-grams, a duplicate when the estimated
Jaccard similarity with an already kept completion of the same problem
reaches `threshold`. The signature is one-permutation MinHash (Li, Owen &
Zhang, 2012): shingle hashes are spread over `num_perm` bins and each bin
keeps its minimum — one pass over the shingles instead of `num_perm`, the
same estimator. Signatures are computed by `features()` in the worker
processes; `reject()` runs in the main process, in input order, because it
remembers what was kept.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from filters.base import Filter, register
from filters.text import mix, ngram_hashes, row_word_hashes

# Signatures are kept for every kept row of the run (800k rows → 400 MB at
# 128 bins): 32 bits per bin make a false bin match a 1-in-4-billion event.
EMPTY = np.iinfo(np.uint32).max


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Jaccard estimate of two one-permutation signatures (bins empty in both are skipped)."""
    used = (a != EMPTY) | (b != EMPTY)
    n = int(used.sum())
    return float(((a == b) & used).sum()) / n if n else 1.0


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
        if self.num_perm < 1 or self.num_perm & (self.num_perm - 1):
            raise ValueError("dedup.num_perm must be a power of two")
        if not 0 < self.threshold <= 1:
            raise ValueError("dedup.threshold must be in (0, 1]")
        self._bits = np.uint64(self.num_perm.bit_length() - 1)

    def features(self, row: dict) -> tuple[bytes, np.ndarray]:
        """(exact key, signature) of the row's reasoning + response; pure, runs in any process."""
        wh = np.concatenate([row_word_hashes(row, "reasoning"), row_word_hashes(row, "response")])
        key = hashlib.blake2b(wh.tobytes(), digest_size=16).digest()
        sig = np.full(self.num_perm, EMPTY, dtype=np.uint64)
        shingles = ngram_hashes(wh, self.shingle)
        if len(shingles):
            h = mix(shingles)
            bins = (h >> (np.uint64(64) - self._bits)).astype(np.intp) if self._bits else np.zeros(len(h), np.intp)
            np.minimum.at(sig, bins, h & np.uint64(0xFFFFFFFE))  # below EMPTY
        return key, sig.astype(np.uint32)

    def reject(self, row: dict) -> str | None:
        pid = row["problem_id"]
        key, sig = row.get("_dedup") or self.features(row)
        if key in self._exact[pid]:
            return "exact_duplicate"
        for other in self._kept[pid]:
            if similarity(other, sig) >= self.threshold:
                return "near_duplicate"
        if self.max_per_problem is not None and len(self._kept[pid]) >= self.max_per_problem:
            return "over_cap"
        self._exact[pid].add(key)
        self._kept[pid].append(sig)
        return None
