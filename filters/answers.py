"""Final answers: extraction from a response, a cheap normalised comparison,
and the math-verify check that runs in a killable worker process.

The cheap path decides most maths rows without sympy: equal after
normalisation → correct; both plain numbers (integers, decimals, a/b,
\\frac{a}{b}) → compared exactly as fractions. Everything else goes to
math-verify, except that two expressions whose values differ at two points
are wrong without its (slow) symbolic simplification, and two polynomials
with rational coefficients are compared exactly by expanding their difference
(an identity such as (x+15)^2 = x^2+30x+225 is then proven, not simplified).
"""

from __future__ import annotations

import math
import re
from fractions import Fraction
from functools import lru_cache

_BOXED = re.compile(r"\\(?:boxed|fbox)\s*")
_FALLBACKS = [
    re.compile(r"final answer is[:\s]*\$?([^\n$]+?)\$?\s*\.?\s*$", re.I | re.M),
    re.compile(r"\*\*answer:?\*\*:?\s*\$?([^\n$]+?)\$?\s*$", re.I | re.M),
    re.compile(r"^answer:\s*\$?([^\n$]+?)\$?\s*$", re.I | re.M),
]


def last_boxed(text: str) -> str | None:
    """Content of the last \\boxed{…} (or \\fbox{…}), braces balanced."""
    for m in reversed(list(_BOXED.finditer(text))):
        i = m.end()
        if i < len(text) and text[i] == "{":
            depth, j = 0, i
            while j < len(text):
                if text[j] == "{":
                    depth += 1
                elif text[j] == "}":
                    depth -= 1
                    if depth == 0:
                        return text[i + 1:j].strip()
                j += 1
            continue  # unbalanced: try an earlier one
        token = re.match(r"[^\s$]+", text[i:])  # "\boxed 5"
        if token:
            return token.group(0)
    return None


def extract_answer(response: str) -> str | None:
    """The final answer of a response: last \\boxed{}, else a stated "answer" line."""
    if not response:
        return None
    boxed = last_boxed(response)
    if boxed:
        return boxed
    for pattern in _FALLBACKS:
        found = pattern.findall(response)
        if found:
            return found[-1].strip()
    return None


_NORMALISE = [
    (re.compile(r"\\left|\\right|\\!|\\,|\\;|\\:|\\ |\\displaystyle"), ""),
    (re.compile(r"\\[dt]frac"), r"\\frac"),
    (re.compile(r"\^\{?\\circ\}?|°"), ""),
    (re.compile(r"\\%|%"), ""),
    (re.compile(r"\\text\{\s*([^{}]*?)\s*\}"), r"\1"),
    (re.compile(r"\\mathrm\{\s*([^{}]*?)\s*\}"), r"\1"),
    (re.compile(r"\s+"), ""),
]


def normalise(answer: str) -> str:
    s = answer.strip().strip("$").strip()
    for pattern, repl in _NORMALISE:
        s = pattern.sub(repl, s)
    s = s.rstrip(".")
    if s.startswith("{") and s.endswith("}") and s.count("{") == 1:
        s = s[1:-1]
    return s


_REPLY_EDGES = " \t\n\"'“”‘’.!?。！？"


def same_reply(reference: str, reply: str) -> bool:
    """Whether a free-text reply says exactly the reference (case, spacing, quotes and final
    punctuation aside): the one rule that decides a general reply; the rest is the judge's."""
    norm = lambda s: " ".join(s.split()).strip(_REPLY_EDGES).casefold()  # noqa: E731
    return norm(reference) == norm(reply)


_NUMBER = re.compile(r"^[-+]?(\d+(\.\d*)?|\.\d+)$")
_FRAC = re.compile(r"^([-+]?)\\frac\{?([-+]?\d+)\}?\{?([-+]?\d+)\}?$")
_SLASH = re.compile(r"^([-+]?\d+)/([-+]?\d+)$")


def as_number(s: str) -> Fraction | None:
    """A normalised answer as an exact number, or None if it is not a plain number."""
    t = s
    if re.fullmatch(r"[-+]?\d{1,3}(,\d{3})+(\.\d+)?", t):  # 1,000,000
        t = t.replace(",", "")
    try:
        if _NUMBER.match(t):
            return Fraction(t)
        m = _FRAC.match(t)
        if m and int(m.group(3)) != 0:
            v = Fraction(int(m.group(2)), int(m.group(3)))
            return -v if m.group(1) == "-" else v
        m = _SLASH.match(t)
        if m and int(m.group(2)) != 0:
            return Fraction(int(m.group(1)), int(m.group(2)))
    except (ValueError, ZeroDivisionError):
        return None
    return None


def quick_compare(reference: str, predicted: str) -> bool | None:
    """True/False when the cheap path can decide, None when sympy is needed."""
    a, b = normalise(reference), normalise(predicted)
    if a == b:
        return True
    na, nb = as_number(a), as_number(b)
    if na is not None and nb is not None:
        return na == nb
    return None


@lru_cache(maxsize=8192)
def _parse(text: str) -> list:
    """math-verify's parse, memoised: a problem's reference is parsed once for all its samples."""
    import logging

    logging.getLogger("math_verify").setLevel(logging.ERROR)
    from math_verify import parse

    return parse(text, parsing_timeout=None)


_POINTS = ((0.5772156649, 1.4142135624, 2.7182818285, 0.6931471806), (1.7320508076, 0.3183098862, 1.6180339887, 2.2360679775))


def _plain_expressions(gold: list, pred: list) -> bool:
    """Both answers parsed to scalar sympy expressions (not relations, sets or matrices)."""
    import sympy

    a, b = gold[0], pred[0]
    kinds = (sympy.MatrixBase, sympy.matrices.expressions.MatrixExpr)
    return isinstance(a, sympy.Expr) and isinstance(b, sympy.Expr) and not isinstance(a, kinds) \
        and not isinstance(b, kinds)


def _surely_different(gold: list, pred: list) -> bool:
    """True when both answers parsed to plain expressions whose values differ at two
    points (free symbols set to fixed irrationals): then they cannot be equal, and
    math-verify's symbolic simplification, the slow part, is not needed to say so."""
    if not _plain_expressions(gold, pred):
        return False
    a, b = gold[0], pred[0]
    symbols = sorted(a.free_symbols | b.free_symbols, key=str)
    try:
        for point in _POINTS:
            subs = {x: point[i % len(point)] + i for i, x in enumerate(symbols)}
            va, vb = complex(a.evalf(subs=subs)), complex(b.evalf(subs=subs))
            if not (math.isfinite(abs(va)) and math.isfinite(abs(vb))) or \
                    abs(va - vb) <= 1e-6 * max(1.0, abs(va), abs(vb)):
                return False
    except (TypeError, ValueError, ArithmeticError, AttributeError):  # not numeric: leave it to math-verify
        return False
    return True


def _polynomial_identity(gold: list, pred: list) -> bool | None:
    """True/False when both answers are polynomials with rational coefficients (no floats,
    no functions, no relations) and their expanded difference is or is not zero: an exact
    decision, far cheaper than math-verify (bench/README.md, "Filtering"). None when either is anything else."""
    import sympy

    a, b = gold[0], pred[0]
    if not _plain_expressions(gold, pred):
        return None
    symbols = sorted(a.free_symbols | b.free_symbols, key=str)
    if not symbols or a.has(sympy.Float) or b.has(sympy.Float):
        return None  # numbers: math-verify's own rules (precision, constants) apply
    if not all(isinstance(s, sympy.Symbol) for s in symbols) or \
            not (a.is_polynomial(*symbols) and b.is_polynomial(*symbols)):
        return None
    try:
        difference = sympy.Poly(a - b, *symbols, domain="QQ")
    except (sympy.PolynomialError, sympy.CoercionFailed, TypeError, ValueError):
        return None
    return difference.is_zero


def math_verify_equal(reference: str, predicted: str) -> str:
    """Run in a worker process (the caller enforces the time limit by killing
    it). Returns "correct", "wrong_answer" or "unparseable_answer"."""
    from math_verify import verify

    gold = _parse(f"${reference}$") or _parse(reference)
    pred = _parse(f"\\boxed{{{predicted}}}")
    if not gold or not pred:
        return "unparseable_answer"
    same = _polynomial_identity(gold, pred)
    if same is not None:
        return "correct" if same else "wrong_answer"
    if _surely_different(gold, pred):
        return "wrong_answer"
    return "correct" if verify(gold, pred, timeout_seconds=None) else "wrong_answer"
