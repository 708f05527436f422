"""Word n-gram hashes, shared by decontamination and dedup.

Words are lower-cased `\\w+` runs; each word gets a stable 32-bit hash
(crc32, the same in every process), and an n-gram's hash combines its
words' hashes polynomially in uint64 arithmetic, vectorised with numpy.
Stable hashes matter: signatures computed in different worker processes
are compared in one.
"""

from __future__ import annotations

import re
import zlib

import numpy as np

_WORD = re.compile(r"\w+")
_P = np.uint64(0x9E3779B97F4A7C15)  # odd 64-bit multiplier


def word_hashes(text: str) -> np.ndarray:
    words = _WORD.findall(text.lower())
    return np.fromiter((zlib.crc32(w.encode()) for w in words), dtype=np.uint64, count=len(words))


def ngram_hashes(words: np.ndarray, n: int) -> np.ndarray:
    """Hash of every run of n consecutive words (empty if fewer than n)."""
    if len(words) < n:
        return np.empty(0, dtype=np.uint64)
    with np.errstate(over="ignore"):
        h = np.zeros(len(words) - n + 1, dtype=np.uint64)
        for k in range(n):
            h = h * _P + words[k:len(words) - n + 1 + k] + np.uint64(k + 1)
    return h


def normalised_text(text: str) -> str:
    return " ".join(_WORD.findall(text.lower()))
