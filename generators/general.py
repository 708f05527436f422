"""General data: the teacher adds a chain of thought by prompting, as R1 did for its ~200k
non-reasoning samples (writing, factual QA, self-cognition, translation).

For a row of the `general` domain (chat data defaults to it: factory/core/problems.py):
- `--general-mode explain` (the default): the teacher is shown the reference reply, where the row
  has one, through the domain's template (generators/templates/general.txt, its `{answer}`
  placeholder) and writes the reasoning that leads to it, then the reply; `answer`: the teacher
  sees the user's message alone and writes a new reply. Either way the student is trained on the
  user's message (`prompt`), never on what the teacher was shown (`teacher_prompt`).
- The chain-of-thought rule: a simple query (a greeting or chit-chat matched by
  `--no-cot-pattern`, or a message of at most `--no-cot-words` words with no digit) gets no chain
  of thought: the teacher's reply is forced to open with an empty think block, as R1's students
  answer "hello". A row's own `cot: true|false` overrides the rule. Each row records the decision
  (`cot`: prompted | none) and, for none, the rule that made it (`cot_rule`).
- A conversation's earlier turns (`history`) are rendered before the prompt, for the teacher and
  for the student.
Reasoning domains (math, code) always think, with their template, as before.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from factory.core.prompts import PromptTemplate

GENERAL = "general"
MODES = ("explain", "answer")
# Greetings, thanks and small talk in a few languages: what R1 answered without a chain of thought.
NO_COT_PATTERN = (r"^\W*(hi|hello|hey|hiya|howdy|good (morning|afternoon|evening|night)|thanks?( you)?|thank you"
                  r"( very much| so much)?|bye|goodbye|see you|how are you( doing)?|what'?s up|nice to meet you"
                  r"|你好|您好|谢谢|再见|こんにちは|ありがとう|привет|спасибо|hola|gracias|bonjour|merci|hallo|danke)"
                  r"\b[\s\W]*(there|everyone|friend|again)?[\s\W]*$")


def _h(text: str) -> dict:
    return {"help": text}


@dataclass(kw_only=True)
class GeneralOptions:
    """How general (chat) rows are turned into teacher prompts; a group of `GenerateConfig`."""

    general_mode: str = field(default="explain", metadata=_h(
        "general rows: explain (the teacher is shown the reference reply and reasons towards it) "
        "or answer (the teacher writes a new reply)"))
    no_cot_words: int = field(default=4, metadata=_h(
        "general rows of at most this many words, with no digit, get no chain of thought (0: off)"))
    no_cot_pattern: str = field(default=NO_COT_PATTERN, metadata=_h(
        "regular expression (case-insensitive) of general prompts that get no chain of thought: "
        "greetings, thanks, small talk ('' : off)"))

    def check(self):
        if self.general_mode not in MODES:
            raise ValueError(f"--general-mode must be one of {', '.join(MODES)}, not {self.general_mode!r}")
        if self.no_cot_words < 0:
            raise ValueError("--no-cot-words must be 0 (off) or more")
        try:
            re.compile(self.no_cot_pattern)
        except re.error as e:
            raise ValueError(f"--no-cot-pattern is not a regular expression: {e}") from None

    def general_identity(self) -> dict:
        """What changes the general rows' prompts (part of a run's identity)."""
        return {"general_mode": self.general_mode, "no_cot_words": self.no_cot_words,
                "no_cot_pattern": self.no_cot_pattern}


@dataclass(frozen=True)
class TeacherTurn:
    user: str                  # the user turn the teacher sees
    history: list | None       # the conversation's earlier turns
    think: bool                # False: the reply opens with an empty think block
    cot: str | None            # "prompted" | "none" for general rows; None for reasoning domains
    cot_rule: str | None       # why none


class Prompter:
    """Problem row → the teacher's turn (`TeacherTurn`), for every domain."""

    def __init__(self, templates: dict[str, PromptTemplate], options: GeneralOptions):
        self.templates, self.mode = templates, options.general_mode
        self.words = options.no_cot_words
        self.pattern = re.compile(options.no_cot_pattern, re.I) if options.no_cot_pattern else None

    def no_cot_rule(self, row: dict) -> str | None:
        """Why this general row gets no chain of thought (None: it gets one)."""
        if row.get("cot") is not None:
            return None if row["cot"] else "the row says cot: false"
        text = row["problem"].strip()
        if self.pattern is not None and self.pattern.search(text):
            return "greeting or small talk (--no-cot-pattern)"
        n = len(text.split())
        if n <= self.words and not any(c.isdigit() for c in text):
            return f"short: {n} word{'s' * (n != 1)}, no digit (--no-cot-words {self.words})"
        return None

    def turn(self, row: dict) -> TeacherTurn:
        template = self.templates[row["domain"]]
        if row["domain"] != GENERAL:
            return TeacherTurn(template.user_message(row["problem"]), row.get("history"), True, None, None)
        rule = self.no_cot_rule(row)
        shown = self.mode == "explain" and bool(row.get("answer")) and template.shows_answer
        user = template.user_message(row["problem"], row["answer"]) if shown else row["problem"]
        return TeacherTurn(user, row.get("history"), rule is None, "none" if rule else "prompted", rule)
