"""Readability: loops, walls of text, code in maths reasoning, garbage bytes, absurd length.

Written for the way real teachers format: R1-style traces put every display
equation between `\\[` and `\\]` lines, use `\\begin{aligned}` blocks, markdown
headers, lists and tables, start paragraphs with "Wait," or "Step 3:", and
restate an equation or a result several times. None of that is a loop. A loop
is the same *sentence or block of sentences* over and over:

- `repeated_lines`: a block of 1 to `max_block_sentences` sentences that says
  something (three real words or more) repeated `max_consecutive_repeats`
  times in a row, or one long sentence (six real words or more: not "So we
  get" before a display equation) `max_sentence_repeats` times anywhere;
- `repetition`: the whole text compresses below `min_compression_ratio`
  (zlib), which a long loop always does.

A wall of text is one line (no line break at all) longer than
`max_paragraph_chars`; text broken into lines, with or without blank lines
between them, is not one.
"""

from __future__ import annotations

import re
import zlib
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from filters.base import Filter, Reason, register

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffd]")
_SENTENCE = re.compile(r"[^.!?。！？\n]+")  # (a decimal point splits too: the same way every time)
_REAL_WORD = re.compile(r"(?<![\\\w])[^\W\d_]{2,}")  # two letters or more, not a \command
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")
_SHOWN = 160


def _real_words(sentence: str) -> int:
    """Real words (CJK: one per two characters): `\\]`, "Step 3:" and equations have few."""
    return len(_REAL_WORD.findall(sentence)) + len(_CJK.findall(sentence)) // 2


def code_in_reasoning(row: dict, code_domains) -> int:
    """Where a code block opens in the reasoning of a row outside `code_domains` (-1: none)."""
    return -1 if row.get("domain") in code_domains else (row.get("reasoning") or "").find("```")


def _clip(text: str) -> str:
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "…"


@register
@dataclass
class ReadabilityFilter(Filter):
    name = "readability"
    max_chars: int = 200_000             # ~50k tokens: beyond any 32k-token trace
    max_paragraph_chars: int = 3_000     # one line without a break this long is a wall of text
    min_compression_ratio: float = 0.12  # zlib size / raw size; loops compress far below prose
    max_consecutive_repeats: int = 3     # a block of sentences this many times in a row is a loop
    max_block_sentences: int = 8         # …for blocks of up to this many sentences
    max_sentence_repeats: int = 20       # one sentence this often anywhere is a loop
    code_domains: list[str] = field(default_factory=lambda: ["code"])

    def __post_init__(self):
        if self.max_consecutive_repeats < 2 or self.max_block_sentences < 1 or self.max_sentence_repeats < 2:
            raise ValueError("readability: max_consecutive_repeats >= 2, max_block_sentences >= 1, "
                             "max_sentence_repeats >= 2")

    def reject(self, row: dict) -> str | None:
        reasoning = row.get("reasoning") or ""
        response = row.get("response") or ""
        text = reasoning + "\n\n" + response
        if len(text) > self.max_chars:
            return Reason("too_long", chars=len(text))
        bad = _CONTROL.search(text)
        if bad:
            return Reason("control_chars", char=f"U+{ord(bad.group()):04X}",
                          context=_clip(text[max(0, bad.start() - 40):bad.end() + 40]))
        i = code_in_reasoning(row, self.code_domains)
        if i >= 0:
            return Reason("code_in_reasoning", context=_clip(reasoning[i:i + _SHOWN]))
        if len(text) >= 1_000:
            raw = text.encode("utf-8", "replace")
            ratio = len(zlib.compress(raw, 1)) / len(raw)
            if ratio < self.min_compression_ratio:
                return Reason("repetition", compression_ratio=round(ratio, 3))
        loop = self._loop(text)
        if loop:
            return loop
        for line in reasoning.splitlines():
            if len(line) > self.max_paragraph_chars:
                return Reason("long_paragraph", chars=len(line), context=_clip(line))
        return None

    def _loop(self, text: str) -> Reason | None:
        sentences = [s for s in (s.strip() for s in _SENTENCE.findall(text.lower())) if s]
        if len(set(sentences)) == len(sentences):
            return None  # nothing repeats at all: the common case
        ids = {}
        seq = np.fromiter((ids.setdefault(s, len(ids)) for s in sentences), dtype=np.int64, count=len(sentences))
        size = np.zeros(len(ids), dtype=np.int32)
        counts = Counter(seq.tolist())
        for s, i in ids.items():
            if counts[i] > 1:
                size[i] = _real_words(s)
        meaningful = size >= 3
        # A block of p sentences repeated k times in a row: seq[i + t] == seq[i + t + p]
        # for t in 0 .. (k-1)p - 1, i.e. a run of (k-1)p equalities at lag p.
        need = self.max_consecutive_repeats - 1
        for p in range(1, min(self.max_block_sentences, len(seq) // self.max_consecutive_repeats) + 1):
            same = np.concatenate([[False], seq[p:] == seq[:-p], [False]]).astype(np.int8)
            edges = np.diff(same)
            starts, ends = np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0]
            for a, b in zip(starts.tolist(), ends.tolist()):
                if b - a >= need * p and meaningful[seq[a:a + p]].any():
                    block = " ".join(sentences[a:a + p])
                    return Reason("repeated_lines", times=(b - a) // p + 1, block=_clip(block))
        top, n = max(((i, c) for i, c in counts.items() if size[i] >= 6), key=lambda x: x[1], default=(None, 0))
        if n >= self.max_sentence_repeats:
            return Reason("repeated_lines", times=n, block=_clip(sentences[seq.tolist().index(top)]))
        return None
