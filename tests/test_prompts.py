"""The R1 prompt: template files, chat template, forced think prefix."""

from __future__ import annotations

import pytest

from factory.core.errors import InputError
from factory.core.prompts import THINK_PREFIX, load_template, load_templates, render_prompt


class _Tok:
    def __init__(self, suffix: str = ""):
        self.chat_template = "x"
        self.suffix = suffix

    def apply_chat_template(self, messages, tokenize, add_generation_prompt):
        assert messages == [messages[0]] and messages[0]["role"] == "user"  # zero-shot, no system turn
        return f"<u>{messages[0]['content']}</u><a>" + self.suffix


def test_shipped_math_template_is_the_r1_instruction():
    t = load_template("math")
    msg = t.user_message(r"Compute $\{1,2\}$ size.")
    assert msg == ("Compute $\\{1,2\\}$ size.\n"
                   "Please reason step by step, and put your final answer within \\boxed{}.")


def test_real_chat_template_renders_user_turn_then_think(tiny_model):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model)
    text = render_prompt(tok, "What is 1+1?")
    assert text == "<|im_start|>user\nWhat is 1+1?<|im_end|>\n<|im_start|>assistant\n<think>\n"


@pytest.mark.parametrize("suffix", ["", "<think>", "<think>\n"])
def test_think_prefix_is_never_doubled(suffix):
    text = render_prompt(_Tok(suffix), "q")
    assert text.endswith(THINK_PREFIX) and text.count("<think>") == 1


def test_templates_override_per_domain_and_missing_domain_is_clear(tmp_path):
    (tmp_path / "code.txt").write_text("Write Python.\n{problem}\n")
    ts = load_templates({"math", "code"}, tmp_path)
    assert ts["code"].user_message("P") == "Write Python.\nP"
    assert ts["math"].path.endswith("generators/templates/math.txt")
    with pytest.raises(InputError, match=r"no prompt template for domain 'chem' \(have: choice, code, general, math\)"):
        load_templates({"chem"}, tmp_path)
    (tmp_path / "bad.txt").write_text("no placeholder")
    with pytest.raises(InputError, match="no {problem} placeholder"):
        load_templates({"bad"}, tmp_path)


def test_tokenizer_without_chat_template_is_refused():
    tok = _Tok()
    tok.chat_template = None
    with pytest.raises(InputError, match="no chat template"):
        render_prompt(tok, "q")
