"""Language consistency: the reasoning stays in the prompt's script.

R1 drops every chain of thought with mixed languages; a student trained on the
rest learns exactly these habits, so a two-character connective ("所以 x = 30.")
in English reasoning is mixing too. Before counting, maths (`$…$`, `\\[…\\]`,
`\\(…\\)`, `$$…$$`) and code are removed, but `\\text{…}` inside maths is prose
and stays, and so is CJK inside "maths" (never notation; usually text between two
currency dollars); LaTeX commands go. Every Latin/Cyrillic/Greek/Arabic… word counts
as one word of its script and every CJK character (Chinese has no spaces) as
one. The prompt's script is the one most of the problem's words are in.

Words in another script are *foreign*, except:
- single Greek letters (θ, π: maths written in prose);
- in a non-Latin prompt, Latin that is maths: variables and labels (`x`, `AB`,
  `ABCD`), function names (`sin`, `log`, `gcd`), units (`cm`, `kg`);
- words that the problem itself contains (a quoted name).

Structure is not prose. A reasoning in a non-Latin script organises itself with
English scaffolding as often as not (R1 is a Chinese and English model, and
markdown's vocabulary is English): `**Final Answer**`, `### Step 1`, `Answer:`,
`\\text{Answer}`. In a non-Latin prompt's reasoning, the Latin words of a
*structural item* are set aside, not counted, when the item is short: at most
`STRUCTURE_MAX_WORDS` (4) words (single letters, capitals like `AB` and function
names not counted). The items are:
- a markdown heading line (`# …` to `###### …`);
- a line that is only bold (`**Final Answer**`, `- **Solution:**`), or a bold
  label opening a line and ending in a colon (`**Step 2**: …`);
- a bare label opening a line and ending in a colon (`Answer: 7`, `Step 2：…`),
  of at most `BARE_LABEL_MAX_WORDS` (2) words: a name, not "Let me verify with
  code:";
- a short quoted label (`"…"`, `“…”`, `«…»`, `「…」`; backticks are code already);
- a markup tag (`<answer>`);
- a `\\boxed{…}`/`\\text{…}` label (`\\boxed{\\text{Yes}}`).
More than four words is prose whatever its shape ("### Now in English we double
check every step"), and prose anywhere else (a connective, a "Wait，…", a
sentence) is foreign as before. Only Latin structure is set aside: English is
the lingua franca of markup, whereas a Chinese `**解答：**` in English
reasoning is itself the drift, so a Latin-script prompt is judged exactly as
before (and as fast: nothing more is done on that path). In a non-Latin
prompt's reasoning, structure is looked for only when it has Latin words that
would otherwise be foreign (the rest cost nothing more either).

A reasoning with at least `min_foreign_words` foreign words, making up more
than `max_foreign_share` of its words, is `mixed_language`; the detail lists
the first foreign words (`first`, `foreign_words` of `words`, `target`) and,
where anything was set aside, what (`structural`: the first items,
`structural_words`: how many words).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from filters.base import Filter, Reason, register
from filters.text import MATH_SPAN

_TEXT_IN_MATH = re.compile(r"\\(?:text|textbf|textit|mbox|mathrm|operatorname)\s*\{([^{}]*)\}")
_CJK_CLASS = r"\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"  # kana, hanzi, hangul
_CJK_RUN = re.compile(f"[{_CJK_CLASS}]+")
_CODE = re.compile(r"```.*?(```|$)|`[^`\n]*`", re.S)
_COMMAND = re.compile(r"\\[A-Za-z]+")
_SCRIPTS = {
    "cjk": re.compile(f"[{_CJK_CLASS}]"),
    "latin": re.compile(r"[A-Za-z\u00c0-\u024f]+"),
    "cyrillic": re.compile(r"[\u0400-\u04ff]+"),
    "greek": re.compile(r"[\u0370-\u03ff]+"),
    "arabic": re.compile(r"[\u0600-\u06ff]+"),
    "hebrew": re.compile(r"[\u0590-\u05ff]+"),
    "devanagari": re.compile(r"[\u0900-\u097f]+"),
    "thai": re.compile(r"[\u0e00-\u0e7f]+"),
}
# Any letter outside Latin: what a Latin-script reasoning is scanned for first.
_NON_LATIN = re.compile(r"[\u0370-\u03ff\u0400-\u04ff\u0590-\u06ff\u0900-\u097f\u0e00-\u0e7f" + _CJK_CLASS + "]")
_MATH_WORDS = frozenset(
    "sin cos tan cot sec csc arcsin arccos arctan sinh cosh tanh log ln lg exp lim max min sup inf gcd lcm "
    "mod det deg rad dim ker arg abs sgn sqrt mm cm dm km mg kg ml dl kmh mph rpm hz ok vs".split())


# Structure (see the module docstring): items whose Latin words are set aside in a non-Latin reasoning.
STRUCTURE_MAX_WORDS = 4    # a heading, a bold line, a quoted label, `\\text{}`
BARE_LABEL_MAX_WORDS = 2   # `Final Answer:`, `Step 2:`; "Let me verify with code:" is a sentence
_LATIN = _SCRIPTS["latin"]
_TEX_LABEL = re.compile(r"\\(?:boxed|text|textbf|textit|mbox|mathrm|operatorname)\s*\{([^{}\n]*)\}")
_MARKER = r"(?:[-*+>][ \t]+|\d{1,3}[.)、][ \t]*)?"  # a list or quote marker before a line's item
_LINE_ITEM = re.compile(  # what a line can open with (matched at each line's start)
    r"[ \t]{0,3}#{1,6}[ \t]+(?P<heading>.+)$"                                        # ### Step 1
    rf"|[ \t]*{_MARKER}\*\*(?P<bold>[^*]+)\*\*[ \t]*[:：]?[ \t]*$"                     # **Final Answer**
    rf"|[ \t]*{_MARKER}\*\*(?P<boldlabel>[^*]+?)(?:[:：][ \t]*\*\*|\*\*[ \t]*[:：])"    # **Step 2:** …
    rf"|[ \t]*{_MARKER}(?P<label>[A-Za-z\u00c0-\u024f][A-Za-z\u00c0-\u024f0-9 ]{{0,40}}?)[ \t]*[:：]")  # Answer: …
_INLINE_ITEM = re.compile(  # what can stand anywhere
    r"[\"“«「『](?P<quoted>[^\"“”«»「」『』\n]{1,40})[\"”»」』]"                           # "Final Answer"
    r"|(?P<tag></?[A-Za-z][\w-]*>)")                                                     # <answer>
_INLINE_OPENERS = '"“«「『<'


def _label_words(item: str) -> list[str]:
    """The words of a structural item that make it long: Latin words but single letters, capitals
    (`AB`) and function names (short words like `me`, `is` count here, unlike in `_is_maths_latin`)."""
    return [w for w in _LATIN.findall(item) if len(w) > 1 and not w.isupper() and w.lower() not in _MATH_WORDS]


def _set_aside(m: re.Match, items: list[str]) -> str:
    """`m` with its Latin blanked, and its text added to `items`, if it is structure: at most
    STRUCTURE_MAX_WORDS words (a bare `label:`, unmarked, at most BARE_LABEL_MAX_WORDS); else `m`
    unchanged: prose."""
    item = next(g for g in m.groups() if g is not None)
    n = len(_label_words(item))
    if not 0 < n <= (BARE_LABEL_MAX_WORDS if m.lastgroup == "label" else STRUCTURE_MAX_WORDS):
        return m.group()
    items.append(item.strip(" \t*:：<>/"))
    return _LATIN.sub(lambda w: " " * len(w.group()), m.group())


def _prose_in_maths(m: re.Match) -> str:
    """What of a maths span is prose: its `\\text{}`, and any CJK (never maths notation; often
    prose between two currency dollars)."""
    span = m.group()
    return " " + " ".join(_TEXT_IN_MATH.findall(span) + _CJK_RUN.findall(_TEXT_IN_MATH.sub(" ", span))) + " "


def strip_non_prose(text: str) -> str:
    """Prose only: maths replaced by the prose inside it, code and LaTeX commands removed."""
    return _COMMAND.sub(" ", _CODE.sub(" ", MATH_SPAN.sub(_prose_in_maths, text)))


def strip_structure(text: str) -> tuple[str, list[str]]:
    """The prose of `text` (`strip_non_prose`) with the Latin words of its structural items
    blanked, and those items (see the module docstring)."""
    items: list[str] = []
    aside = lambda m: _set_aside(m, items)  # noqa: E731
    if "\\" in text:
        text = _TEX_LABEL.sub(aside, text)
    lines = strip_non_prose(text).split("\n")
    for i, line in enumerate(lines):  # a line's start, matched in place: cheaper than a multi-line scan
        first = line.lstrip(" \t")[:1]
        if first and first < "\u0250" and (m := _LINE_ITEM.match(line)):  # items open with #*-+>, a digit, Latin
            lines[i] = aside(m) + line[m.end():]
    prose = "\n".join(lines)
    if any(c in prose for c in _INLINE_OPENERS):
        prose = _INLINE_ITEM.sub(aside, prose)
    return prose, items


def script_words(text: str) -> dict[str, list[str]]:
    """Prose words of `text` by script (CJK: one entry per character); single Greek letters left out."""
    return _words_by_script(strip_non_prose(text))


def _words_by_script(prose: str) -> dict[str, list[str]]:
    out = {}
    for script, pattern in _SCRIPTS.items():
        found = pattern.findall(prose)
        if script == "greek":  # θ, α in prose are maths variables, not a language switch
            found = [w for w in found if len(w) > 1]
        if found:
            out[script] = found
    return out


def _is_maths_latin(word: str) -> bool:
    return len(word) <= 2 or word.isupper() or word.lower() in _MATH_WORDS


@register
@dataclass
class LanguageFilter(Filter):
    name = "language"
    max_foreign_share: float = 0.0    # of the reasoning's words: 0 = any foreign word is too many
    min_foreign_words: int = 1        # fewer foreign words than this are let through

    def __post_init__(self):
        if self.min_foreign_words < 1 or not 0 <= self.max_foreign_share < 1:
            raise ValueError("language: min_foreign_words >= 1 and 0 <= max_foreign_share < 1")

    def reject(self, row: dict) -> Reason | None:
        problem = row.get("problem") or ""
        text = (row.get("reasoning") or "") + "\n" + (row.get("response") or "")
        if problem.isascii() or not _NON_LATIN.search(problem):
            # A Latin-script prompt (the common case): only non-Latin letters can be foreign.
            if text.isascii() or not _NON_LATIN.search(text):
                return None
            target, own = "latin", set()
        else:
            problem_words = script_words(problem)
            target = max(problem_words, key=lambda k: len(problem_words[k])) if problem_words else "latin"
            own = {w for ws in problem_words.values() for w in ws}
        found = script_words(text)
        structure: list[str] = []
        if target != "latin" and any(not _is_maths_latin(w) and w not in own for w in found.get("latin", ())):
            # English scaffolding (headers, labels) organises the text; it is not its language. Only
            # Latin is blanked, so only the Latin words are counted again.
            prose, structure = strip_structure(text)
            found["latin"] = _LATIN.findall(prose)
            if not found["latin"]:
                del found["latin"]
        foreign = []
        for script, ws in found.items():
            if script == target:
                continue
            if script == "latin":
                ws = [w for w in ws if not _is_maths_latin(w)]
            foreign += [w for w in ws if w not in own]
        total = sum(len(ws) for ws in found.values())
        if foreign and len(foreign) >= self.min_foreign_words and len(foreign) / max(1, total) > self.max_foreign_share:
            aside = {"structural": [i[:40] for i in structure[:8]],
                     "structural_words": sum(len(_label_words(i)) for i in structure)} if structure else {}
            return Reason("mixed_language", target=target, foreign_words=len(foreign), words=total,
                          first=" ".join(foreign[:12]), **aside)
        return None
