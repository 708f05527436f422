"""Architecture facts of the paper's six student bases, from their public config.json files.

Recorded here so `train_student --dry-run` (memory estimate, context
extension) works offline, with nothing downloaded.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Architecture:
    hub_id: str
    params: float                  # total parameters
    layers: int
    hidden: int
    heads: int
    kv_heads: int
    intermediate: int
    vocab: int
    max_position_embeddings: int   # the context the base declares
    rope_theta: float
    eos_token: str                 # the token the chat template ends an assistant turn with


BASES: dict[str, Architecture] = {
    "Qwen/Qwen2.5-Math-1.5B": Architecture("Qwen/Qwen2.5-Math-1.5B", 1.54e9, 28, 1536, 12, 2, 8960, 151936,
                                           4096, 10_000.0, "<|im_end|>"),
    "Qwen/Qwen2.5-Math-7B": Architecture("Qwen/Qwen2.5-Math-7B", 7.62e9, 28, 3584, 28, 4, 18944, 152064,
                                         4096, 10_000.0, "<|im_end|>"),
    "meta-llama/Llama-3.1-8B": Architecture("meta-llama/Llama-3.1-8B", 8.03e9, 32, 4096, 32, 8, 14336, 128256,
                                            131072, 500_000.0, "<|eot_id|>"),
    "Qwen/Qwen2.5-14B": Architecture("Qwen/Qwen2.5-14B", 14.77e9, 48, 5120, 40, 8, 13824, 152064,
                                     131072, 1_000_000.0, "<|im_end|>"),
    "Qwen/Qwen2.5-32B": Architecture("Qwen/Qwen2.5-32B", 32.76e9, 64, 5120, 40, 8, 27648, 152064,
                                     131072, 1_000_000.0, "<|im_end|>"),
    "meta-llama/Llama-3.3-70B-Instruct": Architecture("meta-llama/Llama-3.3-70B-Instruct", 70.55e9, 80, 8192, 64,
                                                      8, 28672, 128256, 131072, 500_000.0, "<|eot_id|>"),
}


def from_local_config(path: str) -> Architecture:
    """Facts of a model on disk (the tiny student), read from its config.json."""
    import json
    from pathlib import Path

    cfg = json.loads((Path(path) / "config.json").read_text())
    h, layers, inter, vocab = cfg["hidden_size"], cfg["num_hidden_layers"], cfg["intermediate_size"], cfg["vocab_size"]
    kv = cfg.get("num_key_value_heads", cfg["num_attention_heads"])
    head_dim = h // cfg["num_attention_heads"]
    per_layer = h * h + 2 * h * kv * head_dim + h * h + 3 * h * inter
    params = layers * per_layer + vocab * h * (1 if cfg.get("tie_word_embeddings") else 2)
    return Architecture(str(path), float(params), layers, h, cfg["num_attention_heads"], kv, inter, vocab,
                        cfg.get("max_position_embeddings", 4096), float(cfg.get("rope_theta", 10_000.0)),
                        "<|im_end|>")
