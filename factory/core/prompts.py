"""The R1 prompt: zero-shot, no system prompt, response forced to open with `<think>\\n`.

A prompt template is a text file with one `{problem}` placeholder (and, for chat data shown its
reference reply, an `{answer}` one: generators/templates/general.txt), one file
per domain (`generators/templates/math.txt` …: data beside the stage that samples with them;
the reader lives here because generation, the students' data and evaluation all render them). A folder given with `--templates`
overrides the shipped ones domain by domain. The template's output is the
user turn; the teacher's own chat template renders it, and `<think>\\n` is
appended unless the chat template already opens the think block (as
DeepSeek-R1's does).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from factory.core.errors import InputError
from factory.core.traces import NO_THINK, THINK_OPEN, THINK_PREFIX

PLACEHOLDER = "{problem}"
ANSWER = "{answer}"
SHIPPED_TEMPLATES = Path(__file__).resolve().parents[2] / "generators" / "templates"


@dataclass(frozen=True)
class PromptTemplate:
    domain: str
    text: str
    path: str

    def user_message(self, problem: str, answer: str | None = None) -> str:
        # Plain replacement, not str.format: problems are full of braces. One pass, so a problem
        # that itself contains "{answer}" is left as written.
        if ANSWER not in self.text:
            return self.text.replace(PLACEHOLDER, problem)
        head, _, tail = self.text.partition(PLACEHOLDER)
        fill = lambda part: part.replace(ANSWER, answer or "")  # noqa: E731
        return fill(head) + problem + fill(tail)

    @property
    def shows_answer(self) -> bool:
        return ANSWER in self.text

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()


def available_domains(override: Path | None = None) -> list[str]:
    dirs = [SHIPPED_TEMPLATES] + ([Path(override)] if override else [])
    return sorted({p.stem for d in dirs for p in d.glob("*.txt")})


def load_template(domain: str, override: Path | None = None) -> PromptTemplate:
    candidates = ([Path(override) / f"{domain}.txt"] if override else []) + [SHIPPED_TEMPLATES / f"{domain}.txt"]
    for path in candidates:
        if path.is_file():
            text = path.read_text(encoding="utf-8").rstrip("\n")
            if PLACEHOLDER not in text:
                raise InputError(f"{path}: prompt template has no {PLACEHOLDER} placeholder")
            return PromptTemplate(domain=domain, text=text, path=str(path))
    raise InputError(f"no prompt template for domain {domain!r} "
                     f"(have: {', '.join(available_domains(override))}); add {domain}.txt to --templates")


def load_templates(domains: set[str], override: Path | None = None) -> dict[str, PromptTemplate]:
    if override is not None and not Path(override).is_dir():
        raise InputError(f"--templates {override}: not a folder")
    return {d: load_template(d, override) for d in sorted(domains)}


def load_tokenizer(name: str):
    """The tokenizer (and chat template) of a model folder or Hub id; InputError when it cannot be loaded."""
    try:
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(name)
    except Exception as e:
        raise InputError(f"cannot load the tokenizer of {name!r}: {type(e).__name__}: {e}") from None


def render_prompt(tokenizer, user_message: str, history: list[dict] | None = None, think: bool = True) -> str:
    """The exact text the teacher sees: chat template (the earlier turns of a conversation, then the
    user turn) + forced `<think>\\n`; with `think=False`, an empty think block (`NO_THINK`): R1's
    reply without a chain of thought."""
    if not getattr(tokenizer, "chat_template", None):
        raise InputError("the teacher's tokenizer has no chat template; R1 prompts need one "
                         "(pass --tokenizer with a chat-tuned tokenizer)")
    turns = [*(history or []), {"role": "user", "content": user_message}]
    text = tokenizer.apply_chat_template(turns, tokenize=False, add_generation_prompt=True)
    if text.endswith(THINK_PREFIX):
        text = text[:-len(THINK_PREFIX)]
    elif text.endswith(THINK_OPEN):
        text = text[:-len(THINK_OPEN)]
    return text + (THINK_PREFIX if think else NO_THINK)
