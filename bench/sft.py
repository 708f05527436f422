"""SFT throughput: the factory's training setup vs TRL's defaults, side by side in one run.

Data: R1-style traces with a long-tailed length distribution (lognormal: most
short, a few near the context limit), as real traces are. Both sides train the
tiny student with the same per-device batch (4 sequences) and max_length:

  factory   students/recipes/tiny.yaml: length-bucketed batches (the CPU recipe)
  TRL       SFTConfig defaults: no packing, each batch padded to its longest sequence
  packed    the GPU recipes' setup (best-fit-decreasing packing, padding-free), shown
            for the record: without a variable-length attention kernel (CPU) the
            packed row is attended as one long sequence under a block mask

Reported per side, over the same number of optimizer steps after warm-up:
token efficiency (real tokens / tokens computed, padding included) and real
tokens per second. Goals (issue 4): efficiency >= 0.95, >= 1.5x tokens/s.
These are CPU figures for the tiny student; they say nothing about GPUs.

On a GPU (or with --shape), the GPU recipe against TRL's unpacked default:
a student of the 1.5b shape (Qwen2.5-Math-1.5B's config, random weights, built
on the GPU: nothing downloaded), pre-tokenized traces of 1.5k-19k tokens
(lognormal), the same data and per-device batch on both sides:

  recipe    students/recipes/1.5b.yaml at max_length 16384: packed (bfd, padding-free),
            attention auto (flash where installed, else flex), Liger where installed,
            fp32 master weights with bf16 compute, gradient checkpointing
  trl       SFTConfig's default layout: no packing, each batch padded to its longest,
            sdpa attention, no Liger (same precision, so only the layout differs)

Reported: real tokens/s, MFU (6 P n + 6 L h n^2 FLOPs per sequence of n tokens,
against the GPU's dense bf16 peak), peak allocated memory beside the plan's
(students/plan.py). Goals (issue 12): recipe >= 2x TRL's default, >= 30% MFU on
an H100.

    python bench/sft.py [--rows 2000] [--steps 40]          # CPU: the tiny student
    python bench/sft.py --steps 12                           # GPU: the 1.5b shape
    python bench/sft.py --shape small --steps 4              # the GPU path, shrunk, on a CPU
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from factory.core.machine import cpu_line  # noqa: E402

WORDS = "we add the terms then check each step so the sum is right and the answer follows".split()


def corpus(path: Path, rows: int, seed: int = 0) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = random.Random(seed)
    out = []
    for i in range(rows):
        n = min(900, int(rng.lognormvariate(4.2, 0.9)))  # median ~65 words, tail to ~900
        reasoning = " ".join(rng.choice(WORDS) for _ in range(n))
        out.append({"problem_id": f"b{i}", "problem": f"Problem {i}: add {i} and {i + 1}.",
                    "reasoning": reasoning, "response": f"The answer is \\boxed{{{2 * i + 1}}}."})
    path.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(out), path / "shard-000000.parquet")
    return path


class Counter:
    """Wraps a collator: counts real and computed tokens of every batch it builds."""

    def __init__(self, collator):
        self.collator, self.real, self.computed, self.lengths = collator, [], [], []

    def __call__(self, examples):
        batch = self.collator(examples)
        ids = batch["input_ids"]
        self.computed.append(ids.numel())
        self.real.append(int(batch["attention_mask"].sum()) if "attention_mask" in batch else ids.numel())
        self.lengths.append([len(e["input_ids"]) for e in examples] if "seq_lengths" not in examples[0]
                            else [n for e in examples for n in e["seq_lengths"]])
        return batch


def measure(trainer, steps: int, warmup: int) -> dict:
    from transformers import TrainerCallback

    stamps = []

    class Clock(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            stamps.append(time.perf_counter())

    counter = Counter(trainer.data_collator)
    trainer.data_collator = counter
    trainer.add_callback(Clock())
    trainer.train()
    real = sum(counter.real[warmup:steps])
    computed = sum(counter.computed[warmup:steps])
    seconds = stamps[steps - 1] - stamps[warmup - 1]
    return {"real": real, "computed": computed, "seconds": seconds, "efficiency": real / computed,
            "tok_s": real / seconds, "lengths": [n for b in counter.lengths[warmup:steps] for n in b]}


PEAK_TFLOPS = {"H100": 989.4, "H200": 989.4, "H800": 989.4, "A100": 312.0, "L40S": 362.1}  # dense bf16
SHAPES = {  # name: (base in students/architectures.py, max_length, length range in tokens)
    "1.5b": ("Qwen/Qwen2.5-Math-1.5B", 16384, (1500, 19000)),
    "small": (None, 512, (60, 700)),
}


def student_config(shape: str):
    from transformers import Qwen2Config

    from students.architectures import BASES

    base, max_length, _ = SHAPES[shape]
    if base is None:  # the GPU path shrunk to run on a CPU in seconds
        return Qwen2Config(hidden_size=256, intermediate_size=768, num_hidden_layers=2, num_attention_heads=4,
                           num_key_value_heads=2, vocab_size=4096, max_position_embeddings=1024,
                           tie_word_embeddings=True)
    a = BASES[base]
    return Qwen2Config(hidden_size=a.hidden, intermediate_size=a.intermediate, num_hidden_layers=a.layers,
                       num_attention_heads=a.heads, num_key_value_heads=a.kv_heads, vocab_size=a.vocab,
                       max_position_embeddings=32768, rope_theta=300000.0, tie_word_embeddings=True)


def tokenized_corpus(rows: int, vocab: int, lengths: tuple[int, int], seed: int = 0):
    """Pre-tokenized prompt-completion rows (TRL skips tokenization): a prompt of up to 100
    tokens (masked out of the loss), the rest completion; lognormal lengths."""
    import math

    import datasets

    rng = random.Random(seed)
    lo, hi = lengths
    mu = math.log(lo * 2.5)
    out = []
    for _ in range(rows):
        n = max(lo, min(hi, int(rng.lognormvariate(mu, 0.7))))
        prompt = min(100, n // 4)
        out.append({"input_ids": [rng.randrange(10, vocab) for _ in range(n)],
                    "completion_mask": [0] * prompt + [1] * (n - prompt)})
    return datasets.Dataset.from_list(out)


def gpu_main(args) -> int:
    import dataclasses

    import torch

    from factory.lab import STUDENT_BASE
    from students import recipe as recipes
    from students.architectures import Architecture
    from students.plan import GB, allocated, per_gpu_bytes
    from students.sft import build_trainer

    cuda = torch.cuda.is_available()
    config = student_config(args.shape)
    _, max_length, lengths = SHAPES[args.shape]
    data = tokenized_corpus(args.rows, config.vocab_size, lengths)
    base = recipes.load("1.5b")
    one = dataclasses.replace(base.hardware, gpus_per_node=1, strategy="ddp")
    common = dict(max_steps=args.steps, max_length=max_length, per_device_train_batch_size=2,
                  gradient_accumulation_steps=1, warmup_steps=0, save_strategy="no", logging_steps=1000,
                  report_to="none", use_cpu=not cuda, bf16=cuda or args.shape != "small")
    sides = {
        "recipe": dataclasses.replace(base, hardware=one),
        "trl": dataclasses.replace(base, hardware=one, attention="sdpa", kernels="none"),
    }
    layout = {"recipe": {}, "trl": dict(packing=False, padding_free=False, train_sampling_strategy="random")}
    work = Path(tempfile.mkdtemp(prefix="bench-sft-gpu-"))
    results = {}
    for name, recipe in sides.items():
        if cuda:
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        trainer = build_trainer(recipe, data, work / name, model_path=str(STUDENT_BASE), model_config=config,
                                **common, **layout[name])
        model = trainer.model
        p = sum(t.numel() for t in model.parameters())
        r = measure(trainer, args.steps, args.warmup)
        seqs = r.pop("lengths")
        flops = sum(6 * p * n + 6 * config.num_hidden_layers * config.hidden_size * n * n for n in seqs)
        r.update(attention=model.config._attn_implementation, params=p, flops_s=flops / r["seconds"],
                 peak_gb=torch.cuda.max_memory_allocated() / GB if cuda else float("nan"),
                 plan_gb=allocated(per_gpu_bytes(
                     Architecture("bench", p, config.num_hidden_layers, config.hidden_size,
                                  config.num_attention_heads, config.num_key_value_heads, config.intermediate_size,
                                  config.vocab_size, 32768, 300000.0, "<|im_end|>"),
                     dataclasses.replace(recipe, sft={**recipe.sft, "max_length": max_length,
                                                      "packing": name == "recipe"}), 1,
                     attention=model.config._attn_implementation)) / GB)
        results[name] = r
        del trainer, model
    device = torch.cuda.get_device_name() if cuda else "CPU (the GPU path shrunk; MFU not meaningful)"
    peak = args.peak_tflops or next((v for k, v in PEAK_TFLOPS.items() if k in device), None)
    print(f"\n{device}; shape {args.shape} ({results['recipe']['params'] / 1e6:,.1f}M parameters), "
          f"{args.rows} traces of {lengths[0]:,}-{lengths[1]:,} tokens, max_length {max_length}, per-device batch 2, "
          f"steps {args.warmup + 1}-{args.steps} timed; torch {torch.__version__}")
    print(f"{'side':<8}{'attention':<20}{'real tok':>10}{'efficiency':>12}{'tok/s':>10}{'MFU':>8}"
          f"{'peak GB':>9}{'plan GB':>9}")
    for name, r in results.items():
        mfu = f"{r['flops_s'] / (peak * 1e12):.1%}" if peak and cuda else "n/a"
        print(f"{name:<8}{r['attention']:<20}{r['real']:>10}{r['efficiency']:>12.3f}{r['tok_s']:>10.0f}{mfu:>8}"
              f"{r['peak_gb']:>9.1f}{r['plan_gb']:>9.1f}")
    ratio = results["recipe"]["tok_s"] / results["trl"]["tok_s"]
    print(f"\nrecipe / TRL's unpacked default = {ratio:.2f}x tokens/s (goal >= 2x on a GPU); "
          f"MFU goal >= 30% on an H100")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=None, help="traces (default 2000 on CPU, 320 on the GPU path)")
    ap.add_argument("--steps", type=int, default=None, help="optimizer steps (default 40 on CPU, 12 on the GPU path)")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--shape", choices=sorted(SHAPES), default=None,
                    help="run the GPU comparison at this shape (default on a GPU: 1.5b)")
    ap.add_argument("--peak-tflops", type=float, default=None, help="the GPU's dense bf16 peak, for MFU")
    args = ap.parse_args()
    print(cpu_line(), flush=True)

    import torch

    if args.shape or torch.cuda.is_available():
        args.shape = args.shape or "1.5b"
        args.rows, args.steps = args.rows or 320, args.steps or 12
        return gpu_main(args)
    args.rows, args.steps = args.rows or 2000, args.steps or 40

    from students import recipe as recipes
    from students.data import load_rows, to_conversations
    from students.sft import build_trainer

    work = Path(tempfile.mkdtemp(prefix="bench-sft-"))
    data = corpus(work / "data", args.rows)
    conversations, _ = to_conversations(load_rows(str(data)))
    from factory import lab

    tiny = recipes.load("tiny")
    tiny.model = lab.student_model(tiny.model)
    common = dict(max_steps=args.steps, save_strategy="no", logging_steps=1000, report_to="none",
                  per_device_train_batch_size=4)
    sides = {
        "factory": build_trainer(tiny, conversations, work / "factory", **common),
        # TRL's defaults for the same batch and length: no packing, pad to the longest in the batch.
        "trl": build_trainer(tiny, conversations, work / "trl", packing=False, padding_free=False,
                             train_sampling_strategy="random", **common),
        # For the record: the GPU recipes' packing, run here without a varlen attention kernel.
        "packed": build_trainer(tiny, conversations, work / "packed", packing=True,
                                train_sampling_strategy="random", **common),
    }
    results = {name: measure(trainer, args.steps, args.warmup) for name, trainer in sides.items()}
    for r in results.values():
        r.pop("lengths")

    lengths = sorted(len(c["completion"][0]["content"].split()) for c in conversations)
    print(f"\n{len(conversations)} traces, words per trace: median {lengths[len(lengths) // 2]}, "
          f"p90 {lengths[int(len(lengths) * 0.9)]}, max {lengths[-1]}; tiny student on CPU, "
          f"per-device batch 4, max_length {tiny.sft['max_length']}, steps {args.warmup + 1}-{args.steps} timed")
    print(f"{'setup':<10}{'real tok':>10}{'computed':>10}{'efficiency':>12}{'seconds':>9}{'tok/s':>9}")
    for name, r in results.items():
        print(f"{name:<10}{r['real']:>10}{r['computed']:>10}{r['efficiency']:>12.3f}{r['seconds']:>9.2f}"
              f"{r['tok_s']:>9.0f}")
    f, t = results["factory"], results["trl"]
    print(f"\nfactory efficiency {f['efficiency']:.3f} (goal >= 0.95); tokens/s factory/TRL = "
          f"{f['tok_s'] / t['tok_s']:.2f}x (goal >= 1.5x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
