"""Chat data: a conversation (`messages`: role/content turns, as the Hub's SFT sets write them) read
as a problem for the teacher, and the turns a student is trained on.

A conversation is an optional system turn, then user and assistant turns alternating, starting with
the user. Its last user turn is the prompt; an assistant turn after it is the reference answer;
the turns before it are the history, kept as they were so a multi-turn conversation trains with its
earlier turns. A `prompt`/`response` row (or TRL's prompt/completion message lists) reads the same.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from factory.core.errors import InputError

ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class Conversation:
    history: list[dict]        # the turns before the last user turn (system included), as given
    prompt: str                # the last user turn
    reference: str | None      # the assistant turn after it, if any

    def digest_text(self) -> str:
        """The text that identifies it (its content id is a hash of this)."""
        return json.dumps([*self.history, {"role": "user", "content": self.prompt}], ensure_ascii=False)


def _turn(where: str, i: int, turn) -> dict:
    if not isinstance(turn, dict):
        raise InputError(f"{where}: messages[{i}] must be an object with role and content, got {type(turn).__name__}")
    role, content = turn.get("role"), turn.get("content")
    if role not in ROLES:
        raise InputError(f"{where}: messages[{i}] has role {role!r}; roles are {', '.join(ROLES)}")
    if not isinstance(content, str):
        raise InputError(f"{where}: messages[{i}] ({role}) content must be text, got {type(content).__name__}")
    return {"role": role, "content": content}


def parse_messages(where: str, messages) -> Conversation:
    """The conversation of a `messages` value; InputError naming `where` (file and line) when it is not
    one: empty, no user turn, roles out of order, a turn that is not role + text."""
    if isinstance(messages, str):
        try:
            messages = json.loads(messages)
        except json.JSONDecodeError:
            raise InputError(f"{where}: messages is text that is not a JSON list of turns") from None
    if not isinstance(messages, list):
        raise InputError(f"{where}: messages must be a list of {{role, content}} turns, got {type(messages).__name__}")
    if not messages:
        raise InputError(f"{where}: messages is an empty conversation")
    turns = [_turn(where, i, t) for i, t in enumerate(messages)]
    start = 1 if turns[0]["role"] == "system" else 0
    if not any(t["role"] == "user" for t in turns):
        raise InputError(f"{where}: the conversation has no user turn")
    for i, t in enumerate(turns[start:], start):
        expected = "user" if (i - start) % 2 == 0 else "assistant"
        if t["role"] != expected:
            raise InputError(f"{where}: messages[{i}] is {t['role']!r} where {expected!r} was due "
                             f"(a conversation is [system], user, assistant, user, …)")
    last_user = max(i for i, t in enumerate(turns) if t["role"] == "user")
    if not turns[last_user]["content"].strip():
        raise InputError(f"{where}: messages[{last_user}], the last user turn, is empty")
    reference = turns[last_user + 1]["content"] if last_user + 1 < len(turns) else None
    return Conversation(history=turns[:last_user], prompt=turns[last_user]["content"], reference=reference)


def from_prompt_response(where: str, prompt, response) -> Conversation:
    """A prompt/response row (text each), or TRL's prompt/completion message lists."""
    if isinstance(prompt, list):
        tail = response if isinstance(response, list) else ([] if response is None else
                                                             [{"role": "assistant", "content": response}])
        return parse_messages(where, prompt + tail)
    if not isinstance(prompt, str) or not prompt.strip():
        raise InputError(f"{where}: prompt is empty or not text (got {type(prompt).__name__})")
    if response is not None and not isinstance(response, str):
        raise InputError(f"{where}: response must be text, got {type(response).__name__}")
    return Conversation(history=[], prompt=prompt, reference=response)


def student_turns(history, prompt: str) -> list[dict]:
    """The turns a student sees before its answer: the history (a list, JSON text or None), then the prompt."""
    if isinstance(history, str):
        history = json.loads(history)
    return [{"role": t["role"], "content": t["content"]} for t in (history or [])] + \
        [{"role": "user", "content": prompt}]


def conversation_text(history, prompt: str) -> str:
    """A conversation as one text, for what compares conversations (dedup, decontamination, the
    judge's view of the problem): every turn but the system's, then the prompt. A `history` column
    of another shape (some datasets keep [question, answer] pairs under that name) is read as text."""
    try:
        turns = student_turns(history, prompt)
    except (TypeError, KeyError, ValueError):
        return f"{history}\n\n{prompt}"
    return "\n\n".join(str(t["content"]) for t in turns if t["role"] != "system")
