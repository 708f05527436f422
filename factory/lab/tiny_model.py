"""Build a tiny random-weight Qwen2 teacher on disk, with no downloads.

The factory's tests, `make demo` and the benchmarks need a model that vLLM can
really serve on a CPU. This writes one: a byte-level BPE tokenizer trained on a
small built-in corpus, a ChatML chat template like Qwen2.5's, and a 2-layer
Qwen2 model (head_dim 64: the CPU attention kernel rejects 16).

    python -m factory.lab.tiny_model OUT_DIR
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from factory.core.traces import THINK_CLOSE, THINK_OPEN

# ChatML, the format of the Qwen2.5 family; no default system prompt, as in
# the R1 protocol (zero-shot, user turn only).
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
# Ordinary (non-special) added tokens, so they survive detokenisation the way
# R1's `<think>` tags do.
THINK_TOKENS = [THINK_OPEN, THINK_CLOSE]

_CORPUS = [
    "Please reason step by step, and put your final answer within \\boxed{}.",
    "Let x be a real number such that x^2 - 5x + 6 = 0. Find the sum of all x.",
    "The answer is \\boxed{42}. We compute 6 times 7 and check the result.",
    "First, note that the triangle has sides 3, 4 and 5, so it is a right triangle.",
    "Wait, let me double-check this step. Hmm, that does not look right.",
    "Therefore the probability is \\frac{1}{6} and the expected value is 3.5.",
    "def solve():\n    n = int(input())\n    print(n * 2)\n",
    "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789",
    "+-*/=()[]{}<>^_.,;:!?'\"\\|&%$#@~` \n\t",
]


def build_tokenizer(out: Path, vocab_size: int = 1024, corpus: list[str] | None = None, split_digits: bool = False):
    """Byte-level BPE trained on `corpus` (default: a small built-in one);
    `split_digits` keeps every digit its own token, as arithmetic needs."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False)
    if split_digits:  # GPT-2's split, but one digit per piece (" 7", "7") instead of runs of digits
        pattern = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
        tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(pattern), behavior="isolated"),
                                                     pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    else:
        tok.pre_tokenizer = byte_level
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(corpus or _CORPUS * 20, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=SPECIAL_TOKENS[1:],
    )
    fast.add_tokens(THINK_TOKENS)
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(out)
    return fast


def build_tiny_model(out: str | Path, *, seed: int = 0, layers: int = 2) -> Path:
    """Write tokenizer + random-weight Qwen2 model into `out`; return the path.

    Idempotent: a directory that already holds a complete model is reused.
    """
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    out = Path(out)
    if (out / "config.json").exists() and (out / "model.safetensors").exists():
        return out
    out.mkdir(parents=True, exist_ok=True)
    tok = build_tokenizer(out)
    config = Qwen2Config(
        vocab_size=len(tok),
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=layers,
        num_attention_heads=2,  # head_dim = 128 / 2 = 64
        num_key_value_heads=1,
        max_position_embeddings=4096,
        bos_token_id=tok.convert_tokens_to_ids("<|endoftext|>"),
        eos_token_id=tok.convert_tokens_to_ids("<|im_end|>"),
        pad_token_id=tok.pad_token_id,
        tie_word_embeddings=True,
        torch_dtype="bfloat16",
    )
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config).to(torch.bfloat16)
    model.generation_config.eos_token_id = config.eos_token_id
    model.save_pretrained(out)
    (out / "FACTORY_TINY_MODEL.json").write_text(json.dumps({"seed": seed, "layers": layers}))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m factory.lab.tiny_model", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", help="directory to write the model into")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(build_tiny_model(args.out, seed=args.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
