"""The R1 prompt: zero-shot, no system prompt, response forced to open with `<think>\\n`.

A prompt template is a text file with one `{problem}` placeholder, one file
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
from factory.core.traces import THINK_OPEN, THINK_PREFIX

PLACEHOLDER = "{problem}"
SHIPPED_TEMPLATES = Path(__file__).resolve().parents[2] / "generators" / "templates"


@dataclass(frozen=True)
class PromptTemplate:
    domain: str
    text: str
    path: str

    def user_message(self, problem: str) -> str:
        # Plain replacement, not str.format: problems are full of braces.
        return self.text.replace(PLACEHOLDER, problem)

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


def render_prompt(tokenizer, user_message: str) -> str:
    """The exact text the teacher sees: chat template + forced `<think>\\n`."""
    if not getattr(tokenizer, "chat_template", None):
        raise InputError("the teacher's tokenizer has no chat template; R1 prompts need one "
                         "(pass --tokenizer with a chat-tuned tokenizer)")
    text = tokenizer.apply_chat_template([{"role": "user", "content": user_message}],
                                         tokenize=False, add_generation_prompt=True)
    if text.endswith(THINK_PREFIX):
        return text
    if text.endswith(THINK_OPEN):
        return text + "\n"
    return text + THINK_PREFIX
