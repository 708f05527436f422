"""Train the miniature lab's teacher from scratch, on a CPU, in minutes.

    python -m factory.lab.teacher [--out factory/data/lab/teacher] [--steps 1500]

The teacher is a Qwen2 of about 3M parameters (4 layers, hidden 256, head_dim
64 for vLLM's CPU attention kernel) with a byte-level BPE tokenizer whose
digits are single tokens (column arithmetic needs them). It learns the lab's
problems (factory/lab/tasks.py) from an endless stream of traces written in
the R1 format: the prompt exactly as `factory.generate` renders it, then
`<think>` reasoning and a `\\boxed{}` answer. The stream follows
`tasks.TRAINING_MIX`, so the teacher also learns to fail (wrong columns,
drift into Chinese, loops, code in its reasoning) at roughly those rates.
The loss is on the assistant turn only. Problems of the bundled set and the
held-out benchmark never appear in training.

The bundled weights were made with the defaults; `data/lab/teacher/TRAINING.json`
records the run (steps, seconds, loss, greedy accuracy on held-out problems).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from pathlib import Path

from factory.lab import HELD_OUT, PROBLEMS, TEACHER, tasks

ARCHITECTURE = dict(hidden_size=256, intermediate_size=768, num_hidden_layers=4, num_attention_heads=4,
                    num_key_value_heads=2, max_position_embeddings=1024)


def _corpus(n: int = 3000) -> list[str]:
    rng = random.Random(0)
    out = []
    for p in tasks.make_problems(n, seed=99, prefix="corpus"):
        flaw = tasks.FLAWS[rng.randrange(len(tasks.FLAWS))] if rng.random() < 0.3 else None
        out += [p.problem, tasks.completion(*tasks.trace(p, flaw, rng))]
    # the fixed parts of every prompt, so they become a handful of tokens
    return out + ["user\nPlease reason step by step, and put your final answer within \\boxed{}.\nassistant\n"] * 2000


def build_tokenizer(out: Path, vocab_size: int = 768):
    from factory.tiny_model import build_tokenizer as build

    return build(out, vocab_size=vocab_size, corpus=_corpus(), split_digits=True)


def encode(tok, template, problem: tasks.Problem, flaw: str | None, rng: random.Random) -> tuple[list[int], int]:
    """Token ids of prompt + completion + end of turn, and the prompt's length."""
    from generators.prompts import render_prompt

    prompt = render_prompt(tok, template.user_message(problem.problem))
    ids_prompt = tok(prompt, add_special_tokens=False)["input_ids"]
    ids_completion = tok(tasks.completion(*tasks.trace(problem, flaw, rng)) + tok.eos_token,
                         add_special_tokens=False)["input_ids"]
    return ids_prompt + ids_completion, len(ids_prompt)


def reserved_problems() -> set[str]:
    """Texts the teacher must never train on: the bundled set and the held-out benchmark."""
    texts = set()
    for path in (PROBLEMS, HELD_OUT):
        if path.exists():
            texts |= {json.loads(line)["problem"] for line in path.open(encoding="utf-8") if line.strip()}
    return texts


def greedy_accuracy(model, tok, template, problems: list[tasks.Problem], max_new_tokens: int = 256) -> float:
    """Share of problems whose greedy trace boxes the right answer (transformers, batched)."""
    import torch

    from filters.answers import last_boxed
    from generators.prompts import render_prompt

    model.eval()
    tok.padding_side = "left"
    right = 0
    for i in range(0, len(problems), 64):
        batch = problems[i:i + 64]
        enc = tok([render_prompt(tok, template.user_message(p.problem)) for p in batch], return_tensors="pt",
                  padding=True, add_special_tokens=False)
        with torch.no_grad():
            out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                                 eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
        for p, ids in zip(batch, out[:, enc["input_ids"].shape[1]:]):
            right += last_boxed(tok.decode(ids, skip_special_tokens=True)) == p.answer
    model.train()
    return right / len(problems)


def train(out: Path, *, steps: int, batch: int, lr: float, seed: int, eval_every: int) -> dict:
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from generators.prompts import load_template

    torch.manual_seed(seed)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    out.mkdir(parents=True, exist_ok=True)
    tok = build_tokenizer(out)
    template = load_template("math")
    config = Qwen2Config(vocab_size=len(tok), bos_token_id=tok.convert_tokens_to_ids("<|endoftext|>"),
                         eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, tie_word_embeddings=True,
                         torch_dtype="bfloat16", **ARCHITECTURE)
    model = Qwen2ForCausalLM(config)
    params = sum(p.numel() for p in model.parameters())
    print(f"teacher: {params / 1e6:.2f}M parameters, vocab {len(tok)}", flush=True)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.98), weight_decay=0.01)
    warmup = max(1, steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))
    reserved = reserved_problems()
    rng = random.Random(seed)
    check = [p for p in tasks.make_problems(192, seed=seed + 1000, prefix="check") if p.problem not in reserved]
    stream = (tasks.make_problem(rng, tasks.FAMILIES[i % 3], i, "train") for i in range(10 ** 9))
    start, history, loss_avg = time.monotonic(), [], None
    batches: list[list] = []
    for step in range(1, steps + 1):
        if not batches:  # 8 batches at a time, grouped by length: little padding
            pool = []
            while len(pool) < 8 * batch:
                p = next(stream)
                if p.problem not in reserved:
                    pool.append(encode(tok, template, p, tasks.pick_flaw(rng), rng))
            pool.sort(key=lambda s: len(s[0]))
            batches = [pool[i:i + batch] for i in range(0, len(pool), batch)]
            rng.shuffle(batches)
        seqs = batches.pop()
        width = max(len(ids) for ids, _ in seqs)
        input_ids = torch.full((batch, width), tok.pad_token_id)
        labels = torch.full((batch, width), -100)
        attention = torch.zeros((batch, width), dtype=torch.long)
        for row, (ids, n_prompt) in enumerate(seqs):
            input_ids[row, :len(ids)] = torch.tensor(ids)
            labels[row, n_prompt:len(ids)] = torch.tensor(ids[n_prompt:])
            attention[row, :len(ids)] = 1
        with torch.autocast("cpu", dtype=torch.bfloat16):  # AMX / AVX512-bf16 where the CPU has them
            loss = model(input_ids=input_ids, attention_mask=attention, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        loss_avg = loss.item() if loss_avg is None else 0.95 * loss_avg + 0.05 * loss.item()
        if step % 25 == 0 or step == steps:
            elapsed = time.monotonic() - start
            print(f"step {step}/{steps} | loss {loss_avg:.4f} | {step / elapsed:.2f} steps/s | "
                  f"elapsed {elapsed:.0f}s | ETA {(steps - step) * elapsed / step:.0f}s", flush=True)
        if eval_every and (step % eval_every == 0 or step == steps):
            acc = greedy_accuracy(model, tok, template, check)
            history.append({"step": step, "loss": round(loss_avg, 4), "greedy_accuracy": round(acc, 4)})
            print(f"  greedy accuracy on {len(check)} unseen problems: {acc:.1%}", flush=True)
    model.generation_config.eos_token_id = tok.eos_token_id
    model.to(torch.bfloat16).save_pretrained(out)
    record = {"parameters": params, "architecture": ARCHITECTURE, "vocab": len(tok), "steps": steps,
              "batch": batch, "lr": lr, "seed": seed, "seconds": round(time.monotonic() - start),
              "training_mix": tasks.TRAINING_MIX, "history": history}
    (out / "TRAINING.json").write_text(json.dumps(record, indent=1) + "\n")
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m factory.lab.teacher", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=TEACHER)
    parser.add_argument("--steps", type=int, default=1600)
    parser.add_argument("--batch", type=int, default=48)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eval-every", type=int, default=400)
    args = parser.parse_args(argv)
    record = train(args.out, steps=args.steps, batch=args.batch, lr=args.lr, seed=args.seed,
                   eval_every=args.eval_every)
    print(f"teacher written to {args.out} in {record['seconds']}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
