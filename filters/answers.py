"""Final answers: extraction from a response (a maths answer, `extract_answer`; a multiple-choice
letter, `extract_choice`), a cheap normalised comparison, and the math-verify check that runs
in a killable worker process.

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
import unicodedata
from fractions import Fraction
from functools import lru_cache

_BOXED = re.compile(r"\\(?:boxed|fbox)\s*")
_FALLBACKS = [
    re.compile(r"final answer is[:\s]*\$?([^\n$]+?)\$?\s*\.?\s*$", re.I | re.M),
    re.compile(r"\*\*answer:?\*\*:?\s*\$?([^\n$]+?)\$?\s*$", re.I | re.M),
    re.compile(r"^answer:\s*\$?([^\n$]+?)\$?\s*$", re.I | re.M),
]


def _closing_braces(text: str) -> dict[int, int]:
    """Where each "{" of `text` closes (an unclosed one: absent), in one pass over its braces."""
    closing, open_at = {}, []
    for m in re.finditer(r"[{}]", text):
        if m.group() == "{":
            open_at.append(m.start())
        elif open_at:
            closing[open_at.pop()] = m.start()
    return closing


def _boxed_content(text: str, m: re.Match, closing: dict[int, int]) -> str | None:
    """What the \\boxed at `m` holds: its {…} (braces balanced) or one token ("\\boxed 5");
    None when its braces never close."""
    i = m.end()
    if i < len(text) and text[i] == "{":
        return text[i + 1:closing[i]].strip() if i in closing else None
    token = re.match(r"[^\s$]+", text[i:])
    return token.group(0) if token else None


def _boxes(text: str) -> list[tuple[int, str]]:
    """(position, content) of every \\boxed{…} (or \\fbox{…}) whose braces close, in order."""
    matches = list(_BOXED.finditer(text))
    closing = _closing_braces(text) if matches else {}
    found = ((m.start(), _boxed_content(text, m, closing)) for m in matches)
    return [(at, content) for at, content in found if content is not None]


def last_boxed(text: str) -> str | None:
    """Content of the last \\boxed{…} (or \\fbox{…}), braces balanced (an unbalanced one: the one before)."""
    boxes = _boxes(text)
    return boxes[-1][1] if boxes else None


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


# A stated choice: a marker ("answer", "correct option", "Ответ", "答案", "答え", "正解", "故选"),
# a separator (":", "is", "是", "は"; or a line break after a header such as "**Final Answer**"),
# openers ("**", "(", "$", "\text{", "option "), then one letter not followed by another letter
# or digit. Each part is a single character class or a literal, so no input backtracks badly.
_CHOICE_STATED = re.compile(
    r"(?:\b(?:(?:final|correct|right|best)\s+)?(?:answer(?:\s+(?:choice|option))?|ответ)"
    r"|\b(?:correct|right|best|final)\s+(?:option|choice)"
    r"|правильный\s+вариант)"
    r"(?:(?:[ \t*]*(?:[:=：—–]|-(?!\w)|\bis\b|\bwas\b|\b(?:would|should|must|will)\s+be\b))+"
    r"|(?P<header>[ \t*:]*\n[ \t\n]*))"
    r"|(?:答案|答え|正解|解答|正确选项|正確選項|故选|應選|应选|所以选|因此选)"
    r"(?:[ \t*]*(?:[:：]|是|为|為|は|应为|應為|应该是|选|選))*",
    re.I)
_CHOICE_LETTER = re.compile(
    r"(?P<open>(?:[ \t]*(?:[*_$(\[{]|\\[(\[]|\\(?:text|textbf|mathrm|mathbf|mbox|boxed)\s*\{"
    r"|(?:option|choice|letter)\b))*[ \t]*)"
    r"(?P<letter>[A-Za-z\u0410-\u042f\u0430-\u044f\uff21-\uff3a\uff41-\uff5a])"
    r"(?![A-Za-z0-9\u0400-\u04ff\uff10-\uff5a'’])",
    re.I)
_LINE_END = re.compile(r"[)\]}*$_\\ \t]*\.?[)\]}*$_\\ \t。]*(?:\n|$)")
_IN_BOX = re.compile(r"\(?\s*([A-Za-z\u0410-\u042f\u0430-\u044f\uff21-\uff3a\uff41-\uff5a])\s*\)?(?:[.:)\s].*)?", re.S)
_UNWRAP = re.compile(r"\\(?:text|textbf|mathrm|mathbf|mbox)\s*\{([^{}]*)\}")
_CYRILLIC = str.maketrans("АВСЕНКМОРТХаесорх", "ABCEHKMOPTXaecopx")   # letters typed in a Russian layout


def extract_choice(response: str, letters: str = "ABCD") -> str | None:
    """The option letter a response finally chose (as spelled in `letters`), or None.

    Read from every \\boxed{C} (also \\boxed{\\text{C}}, \\boxed{(C)}, \\boxed{C) 42}) and every
    stated answer ("Answer: C", "**Answer:** (C)", "The correct answer is $C$", "Ответ: C",
    "答案：C", "答えはC", a "**Final Answer**" header with the letter on the next line); the LAST one
    in the text wins, so a response that boxed B, then wrote "Wait, that's wrong" and ended
    "Answer: C" chose C. Letters outside `letters` are skipped. Case: an upper-case letter counts
    wherever it stands alone; a lower-case one ("answer: c") only boxed, enclosed ("(c)", "**c**")
    or ending its line, since "the answer is a bit…" is the article. Full-width and Cyrillic
    look-alike letters (Ｃ, С) read as Latin ones.
    """
    if not response:
        return None
    allowed = letters.upper()
    found: list[tuple[int, str]] = []
    for at, content in _boxes(response):
        letter = _boxed_letter(content) if content else None
        if letter and letter.upper() in allowed:
            found.append((at, letter))
    for m in _CHOICE_STATED.finditer(response):
        at = _CHOICE_LETTER.match(response, m.end())
        if at and _stated(response, at, header=m.group("header") is not None):
            letter = _latin(at.group("letter"))
            if letter.upper() in allowed:
                found.append((at.start("letter"), letter))
    if not found:
        return None
    return letters[allowed.index(max(found)[1].upper())]


def _latin(ch: str) -> str:
    return unicodedata.normalize("NFKC", ch).translate(_CYRILLIC)


def _boxed_letter(content: str) -> str | None:
    """The letter a box holds ("C", "\\text{(C)}", "C) 42"), or None when it holds anything else."""
    for _ in range(3):
        content = _UNWRAP.sub(r"\1", content)
    m = _IN_BOX.fullmatch(content.strip().strip("$").strip())
    return _latin(m.group(1)) if m else None


def _stated(text: str, at: re.Match, header: bool) -> bool:
    """Whether the letter after a marker is a choice, not a word: an upper-case letter after a
    separator is; a lower-case one, or any after a header line, only enclosed or ending its line."""
    letter, opener = at.group("letter"), at.group("open").rstrip()
    ends_line = _LINE_END.match(text, at.end()) is not None
    if header:
        return ends_line
    if not letter.islower():
        return True
    after = text[at.end():at.end() + 1]
    return ends_line or (opener[-1:] in ("(", "[", "{", "*", "$", "_") and after in (")", "]", "}", "*", "$", "_"))


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


def same_reply_key(text: str) -> str:
    """A free-text reply with case, spacing, quotes and final punctuation taken out: two replies
    say the same thing exactly when their keys are equal (`same_reply`; a vote in cons@k)."""
    return " ".join(text.split()).strip(_REPLY_EDGES).casefold()


def same_reply(reference: str, reply: str) -> bool:
    """Whether a free-text reply says exactly the reference (case, spacing, quotes and final
    punctuation aside): the one rule that decides a general reply; the rest is the judge's."""
    return same_reply_key(reference) == same_reply_key(reply)


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
