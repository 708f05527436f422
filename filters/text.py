"""Word hashes and n-gram hashes, shared by decontamination and dedup.

Words are lower-cased `\\w+` runs. `content_words` reads maths text for what it
says rather than how it is typeset: LaTeX commands (`\\frac`, `\\left`) are
dropped, Asymptote drawings are reduced to their numbers, and digit-group commas
go (`1,000` is `1000`), so `\\dfrac{1}{2}` and `\\frac12` give the same words;
`problem_words` keeps the maths commands, for telling problems apart. Each word
gets a stable 32-bit hash (crc32: the same in every process, so signatures made
in different workers compare), memoised because prose reuses few words. An
n-gram's hash combines its words' hashes polynomially in uint64 arithmetic,
vectorised with numpy.
A row's word hashes are computed once and cached on the row, so the filters
that need them share the work.
"""

from __future__ import annotations

import re
import string
import zlib

import numpy as np

_WORD = re.compile(r"\w+")
_ASCII_PUNCT = str.maketrans({c: " " for c in string.punctuation.replace("_", "")})
_P = np.uint64(0x9E3779B97F4A7C15)  # odd 64-bit multiplier


class _WordHashes(dict):
    def __missing__(self, word: str) -> int:
        if len(self) > 2_000_000:  # bounded memory on pathological vocabularies
            self.clear()
        h = self[word] = zlib.crc32(word.encode("utf-8", "surrogatepass"))
        return h


_HASHES = _WordHashes()


def words(text: str) -> list[str]:
    if text.isascii():  # the common case, and cheaper than the regex
        return text.lower().translate(_ASCII_PUNCT).split()
    return _WORD.findall(text.lower())


_ASY = re.compile(r"\[asy\](.*?)(?:\[/asy\]|$)", re.S | re.I)
_NUMBER = re.compile(r"\d+")
_TEX_COMMAND = re.compile(r"\\[A-Za-z]+")
_DIGIT_GROUP = re.compile(r",(?<=\d,)(?=\d{3}(?!\d))")  # the comma first: the regex scans for it fast


def content_words(text: str) -> list[str]:
    """The words of a maths text, typesetting aside (see the module docstring)."""
    if "[asy]" in text or "[ASY]" in text:  # a drawing's content is its coordinates, not draw()/label()
        text = _ASY.sub(lambda m: " " + " ".join(_NUMBER.findall(m.group(1))) + " ", text)
    if "\\" in text:
        text = _TEX_COMMAND.sub(" ", text)
    if "," in text:
        text = _DIGIT_GROUP.sub("", text)
    return words(text)


_COSMETIC = re.compile(r"\\(?:left|right|[bB]ig{1,2}[lr]?|displaystyle|textstyle|quad|qquad|mathrm|text)(?![A-Za-z])"
                       r"|\\[,;:! ]")
_FRAC = re.compile(r"\\[dt]frac(?![A-Za-z])")


def problem_words(text: str) -> list[str]:
    """The words of a problem statement, its maths included: like `content_words`, but
    LaTeX commands stay as words (`\\sin x` and `\\cos x` are different problems), only
    the cosmetic ones go (`\\left`, `\\displaystyle`, spacing) and `\\dfrac` is `\\frac`."""
    if "[asy]" in text or "[ASY]" in text:
        text = _ASY.sub(lambda m: " " + " ".join(_NUMBER.findall(m.group(1))) + " ", text)
    if "\\" in text:
        text = _FRAC.sub(r"\\frac", _COSMETIC.sub(" ", text))
    if "," in text:
        text = _DIGIT_GROUP.sub("", text)
    return words(text)


# Maths spans: $$…$$, $…$ (never across a blank line: LaTeX forbids it, and currency "$5 … $10"
# must not swallow paragraphs), \\[…\\], \\(…\\).
MATH_SPAN = re.compile(r"\$\$.*?\$\$|\$(?:(?!\n\s*\n)[^$])*\$|\\\[.*?\\\]|\\\(.*?\\\)", re.S)


def math_words(text: str) -> list[str]:
    """`problem_words` of the maths spans of `text` only: what makes `\\sqrt{x-2}=x-2` another
    problem than `\\log_{10} x = 2` when both are "Determine all values of $x$ for which …"."""
    return problem_words(" ".join(m.group() for m in MATH_SPAN.finditer(text)))


def is_number(word: str) -> bool:
    return word[:1].isdigit()


def hash_words(ws: list[str]) -> np.ndarray:
    return np.fromiter(map(_HASHES.__getitem__, ws), dtype=np.uint64, count=len(ws))


def row_word_hashes(row: dict, field: str) -> np.ndarray:
    """Hashes of the `content_words` of row[field], cached on the row for the next filter."""
    key = "_wh_" + field
    cached = row.get(key)
    if cached is None:
        value = row.get(field)
        cached = row[key] = hash_words(content_words(value if isinstance(value, str) else ""))
    return cached


def ngram_hashes(hashes: np.ndarray, n: int) -> np.ndarray:
    """Hash of every run of n consecutive words (empty if fewer than n)."""
    if len(hashes) < n:
        return np.empty(0, dtype=np.uint64)
    m = len(hashes) - n + 1
    with np.errstate(over="ignore"):
        h = np.zeros(m, dtype=np.uint64)
        for k in range(n):
            h = h * _P + hashes[k:m + k] + np.uint64(k + 1)
    return h


def mix(h: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: every output bit depends on every input bit."""
    with np.errstate(over="ignore"):
        h = (h ^ (h >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        h = (h ^ (h >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return h ^ (h >> np.uint64(31))
