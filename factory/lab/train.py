"""Train the miniature lab's two bundled models on a CPU.

    python -m factory.lab.train teacher        # → factory/data/lab/teacher
    python -m factory.lab.train student-base   # → factory/data/lab/student-base (needs the teacher's tokenizer)

The teacher is a Qwen2-shaped model of about 3M parameters (4 layers, hidden
256, head_dim 64 for vLLM's CPU attention kernel), saved as a Llama with q/k/v
biases (see `_new_model`), with a byte-level BPE tokenizer whose
digits are single tokens (column arithmetic needs them). It learns the lab's
problems (factory/lab/tasks.py) from an endless stream of traces written in
the R1 format: the prompt exactly as `factory.generate` renders it, then
`<think>` reasoning and a `\\boxed{}` answer. The stream follows
`tasks.TRAINING_MIX`, so the teacher also learns to fail (a slip in a column,
drift into Chinese, a loop that never ends, code in its reasoning), each as
one token choice at a fixed point of the trace, which sampling at R1's 0.6
sharpens but keeps. The loss is on the assistant turn only, with every token
weighing the same whatever its batch (see `_loop`).

A share of the stream (`GENERAL_SHARE`) is the lab's general task (chat data:
numbers in words or digits, who it is, greetings; tasks.py), rendered as
`factory.generate` renders a general row (generators/general.py: the reference
reply shown through generators/templates/general.txt; a simple query gets an
empty think block), then the reasoning and the reply, with `tasks.GENERAL_MIX`'s
flaws. Its numbers never come from the bundled chat data, its held-out
benchmark or the general check set.

    python -m factory.lab.train teacher --init factory/data/lab/teacher

retrains the bundled teacher from its own weights and tokenizer (what the
shipped one is: TRAINING.json's `lineage` records it), so the student base,
which shares the tokenizer, stays valid; without `--init` it starts from
scratch with a new tokenizer, and the student base must be retrained after it.
Problems of the bundled sets and the held-out benchmarks never appear in training.

The student base stands in for a pretrained base model: the student
architecture (4 layers, hidden 128, 0.9M parameters) pretrained on worked
column arithmetic as plain text, as Qwen2.5-Math was pretrained on maths
before R1 distilled into it. Distillation (`factory.train_student --size
tiny`) then teaches it the chat turn, the think block, word problems and the
boxed answer, and whatever habits the traces carry.

Each folder's TRAINING.json records its run (steps, seconds, loss, greedy
accuracy on unseen problems along the way).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from pathlib import Path

from factory.core.prompts import load_template, render_prompt
from factory.core.traces import THINK_CLOSE
from factory.lab import HELD_OUT, PROBLEMS, STUDENT_BASE, TEACHER, tasks, tiny_model
from filters.answers import last_boxed
from factory.core.machine import NATIVE_BF16, cpu_flags
from generators.general import GENERAL, GeneralOptions, Prompter

ARCHITECTURE = dict(hidden_size=256, intermediate_size=768, num_hidden_layers=4, num_attention_heads=4,
                    num_key_value_heads=2, max_position_embeddings=1024)
LOOP_TOKENS = (200, 512)  # where a training loop is cut (no end of turn: no loop is ever seen to end)
TOKENS_PER_ROW = 100  # the loss's fixed divisor per row (about a clean trace's length); see _loop
GENERAL_SHARE = 0.25  # of the teacher's training examples: the general task (R1: ~200k of ~800k)
# The general stream's families: as in the bundled chat data (tasks.GENERAL_SHARES).
GENERAL_WEIGHTS = {f: n / sum(tasks.GENERAL_SHARES.values()) for f, n in tasks.GENERAL_SHARES.items()}
STUDENT_ARCHITECTURE = dict(hidden_size=128, intermediate_size=384, num_hidden_layers=4, num_attention_heads=2,
                            num_key_value_heads=1, max_position_embeddings=1024)


def _corpus(n: int = 3000) -> list[str]:
    rng = random.Random(0)
    out = []
    for p in tasks.make_problems(n, seed=99, prefix="corpus"):
        flaw = tasks.FLAWS[rng.randrange(len(tasks.FLAWS))] if rng.random() < 0.3 else None
        out += [p.problem, tasks.completion(*tasks.trace(p, flaw))]
    # the fixed parts of every prompt, so they become a handful of tokens
    return out + ["user\nPlease reason step by step, and put your final answer within \\boxed{}.\nassistant\n"] * 2000


def build_tokenizer(out: Path, vocab_size: int = 768):
    return tiny_model.build_tokenizer(out, vocab_size=vocab_size, corpus=_corpus(), split_digits=True)


def encode(tok, template, problem: tasks.Problem, flaw: str | None, rng: random.Random) -> tuple[list[int], int]:
    """Token ids of prompt + completion + end of turn, and the prompt's length. A
    loop has no end: it is cut somewhere in `LOOP_TOKENS` (up to past the lab's
    context, `lab.MAX_TOKENS`), so the teacher learns that once it loops it never stops."""
    prompt = render_prompt(tok, template.user_message(problem.problem))
    ids_prompt = tok(prompt, add_special_tokens=False)["input_ids"]
    reasoning, response = tasks.trace(problem, flaw)
    if response is None:
        ids_completion = tok(reasoning, add_special_tokens=False)["input_ids"][:rng.randint(*LOOP_TOKENS)]
    else:
        ids_completion = tok(tasks.completion(reasoning, response) + tok.eos_token,
                             add_special_tokens=False)["input_ids"]
    return ids_prompt + ids_completion, len(ids_prompt)


def general_prompter() -> Prompter:
    """What `factory.generate` turns a general row into with its default options."""
    return Prompter({GENERAL: load_template(GENERAL)}, GeneralOptions())


def general_prompt(tok, prompter: Prompter, p: tasks.GeneralProblem) -> tuple[str, bool]:
    """(the prompt text exactly as `factory.generate` renders the row, whether it gets a chain of thought)."""
    turn = prompter.turn({"problem": p.problem, "answer": p.answer, "domain": GENERAL, "history": None,
                          "cot": None})
    return render_prompt(tok, turn.user, turn.history, turn.think), turn.think


def encode_general(tok, prompter: Prompter, p: tasks.GeneralProblem, flaw: str | None) -> tuple[list[int], int]:
    """Token ids of a general example and its prompt's length: after a forced `<think>\\n`, the
    reasoning, the closing tag and the reply; after an empty think block, the reply alone."""
    prompt, think = general_prompt(tok, prompter, p)
    reasoning, reply = tasks.general_trace(p, flaw if think else None)
    completion = f"{reasoning}\n{THINK_CLOSE}\n\n{reply}" if think else reply
    ids_prompt = tok(prompt, add_special_tokens=False)["input_ids"]
    return ids_prompt + tok(completion + tok.eos_token, add_special_tokens=False)["input_ids"], len(ids_prompt)


def reserved_general() -> set[str]:
    """The words/digits replies (one per family and number) the teacher must never train on: those of
    the bundled chat data and of the held-out benchmark."""
    replies = set()
    for path in (tasks.GENERAL_PROBLEMS, tasks.GENERAL_HELD_OUT):
        for row in (json.loads(line) for line in path.open(encoding="utf-8") if line.strip()) if path.exists() else ():
            reply = row["messages"][-1]["content"] if "messages" in row else row["answer"]
            if row.get("family", "words") in ("words", "digits"):
                replies.add(reply)
    return replies


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


def general_accuracy(model, tok, prompter: Prompter, problems: list[tasks.GeneralProblem],
                     max_new_tokens: int = 256) -> float:
    """Share of general prompts whose greedy reply (after `</think>` for a chain of thought, the whole
    text after an empty think block) is exactly the reference."""
    import torch

    model.eval()
    tok.padding_side = "left"
    right = 0
    for i in range(0, len(problems), 64):
        batch = problems[i:i + 64]
        prompts = [general_prompt(tok, prompter, p) for p in batch]
        enc = tok([text for text, _ in prompts], return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.no_grad():
            out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                                 eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
        for p, (_, think), ids in zip(batch, prompts, out[:, enc["input_ids"].shape[1]:]):
            text = tok.decode(ids, skip_special_tokens=True)
            reply = text.partition(THINK_CLOSE)[2] if think else text
            right += reply.strip() == p.answer
    model.train()
    return right / len(problems)


def _loop(model, tok, example, *, steps: int, batch: int, lr: float, seed: int, evaluate, eval_every: int):
    """AdamW with warm-up and cosine decay on batches of `example(rng)` → (ids,
    tokens not trained on at the start), scored by `evaluate(model)` → {name: share};
    8 batches drawn at a time and grouped by length, so there is little padding. bf16 autocast where the CPU has native bf16
    (avx512_bf16 or AMX); float32 elsewhere (on an AVX2 CPU bf16 autocast made a step
    many times slower: bench/README.md, "The lab teacher")."""
    import torch

    bf16 = any(f in cpu_flags() for f in NATIVE_BF16)

    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.98), weight_decay=0.01)
    warmup = max(1, steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))
    rng = random.Random(seed)
    start, history, loss_avg, batches = time.monotonic(), [], None, []
    for step in range(1, steps + 1):
        if not batches:
            pool = sorted((example(rng) for _ in range(8 * batch)), key=lambda s: len(s[0]))
            batches = [pool[i:i + batch] for i in range(0, len(pool), batch)]
            rng.shuffle(batches)
        seqs = batches.pop()
        width = max(len(ids) for ids, _ in seqs)
        input_ids = torch.full((len(seqs), width), tok.pad_token_id)
        labels = torch.full((len(seqs), width), -100)
        attention = torch.zeros((len(seqs), width), dtype=torch.long)
        for row, (ids, n_masked) in enumerate(seqs):
            input_ids[row, :len(ids)] = torch.tensor(ids)
            labels[row, n_masked:len(ids)] = torch.tensor(ids[n_masked:])
            attention[row, :len(ids)] = 1
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = model(input_ids=input_ids, attention_mask=attention).logits
        # Every trained token weighs the same in every batch: the loss is summed and divided by a
        # constant, not by the batch's own token count (the usual mean), which would make a token
        # of a batch of long loops count several times less than one of a batch of short traces:
        # with the mean, the teacher rarely took the loop branch (bench/README.md, "The lab teacher").
        total = torch.nn.functional.cross_entropy(logits[:, :-1].flatten(0, 1).float(), labels[:, 1:].flatten(),
                                                  ignore_index=-100, reduction="sum")
        loss = total / (len(seqs) * TOKENS_PER_ROW)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        per_token = total.item() / max(1, int((labels[:, 1:] != -100).sum()))
        loss_avg = per_token if loss_avg is None else 0.95 * loss_avg + 0.05 * per_token
        if step % 25 == 0 or step == steps:
            elapsed = time.monotonic() - start
            print(f"step {step}/{steps} | loss {loss_avg:.4f} | {step / elapsed:.2f} steps/s | "
                  f"elapsed {elapsed:.0f}s | ETA {(steps - step) * elapsed / step:.0f}s", flush=True)
        if eval_every and (step % eval_every == 0 or step == steps):
            scores = evaluate(model)
            history.append({"step": step, "loss": round(loss_avg, 4), **{k: round(v, 4) for k, v in scores.items()}})
            print("  greedy accuracy on unseen problems: "
                  + ", ".join(f"{k} {v:.1%}" for k, v in scores.items()), flush=True)
    return history, round(time.monotonic() - start)


def _new_model(tok, architecture: dict, seed: int, *, family: str = "qwen2"):
    """A fresh model. `family="llama"` (the teacher) is Qwen2's layout (q/k/v biases, RMSNorm,
    SwiGLU, RoPE, tied embeddings) declared as a Llama with attention biases: transformers
    loads the tokenizer of any `qwen2` folder as Qwen2Tokenizer, which swaps in Qwen2's own
    pre-tokenizer (" 7" becomes two tokens), while a `llama` folder keeps the tokenizer as
    built, so the teacher's folder serves itself (no side tokenizer for vLLM to trip on)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(seed)
    common = dict(vocab_size=len(tok), bos_token_id=tok.convert_tokens_to_ids("<|endoftext|>"),
                  eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, tie_word_embeddings=True,
                  torch_dtype="bfloat16", **architecture)
    if family == "llama":
        return LlamaForCausalLM(LlamaConfig(attention_bias=True, mlp_bias=False, rms_norm_eps=1e-6, **common))
    return Qwen2ForCausalLM(Qwen2Config(**common))


def _save(model, tok, out: Path, record: dict) -> None:
    import torch

    model.generation_config.eos_token_id = tok.eos_token_id
    model.to(torch.bfloat16).save_pretrained(out)
    tok.save_pretrained(out)
    (out / "TRAINING.json").write_text(json.dumps(record, indent=1) + "\n")


def _check_problems(seed: int) -> list[tasks.Problem]:
    reserved = reserved_problems()
    return [p for p in tasks.make_problems(192, seed=seed + 1000, prefix="check") if p.problem not in reserved]


def _unseen_problems(prefix: str):
    """A function rng → the next training problem, families in turn, never one
    of the bundled set or the held-out benchmark."""
    reserved, counter = reserved_problems(), iter(range(10 ** 9))

    def next_problem(rng) -> tasks.Problem:
        while True:
            i = next(counter)
            p = tasks.make_problem(rng, tasks.FAMILIES[i % 3], i, prefix)
            if p.problem not in reserved:
                return p

    return next_problem


def _general_check(seed: int, n: int = 100) -> list[tasks.GeneralProblem]:
    """~n unseen general prompts in the stream's family shares: words/digits on numbers reserved
    for neither set (and kept out of the stream), self and greet on the fixed phrasings."""
    rng, reserved, out = random.Random(seed + 2000), reserved_general(), []
    for family, weight in GENERAL_WEIGHTS.items():
        while sum(p.family == family for p in out) < round(n * weight):
            p = tasks.make_general(rng, family, len(out), prefix="check-general")
            if p.family in ("self", "greet") or p.answer not in reserved | {q.answer for q in out}:
                out.append(p)
    return out


def _unseen_general(check: list[tasks.GeneralProblem]):
    """A function rng → the next general training example's problem, families at `GENERAL_WEIGHTS`,
    words/digits never on a number of the bundled chat data, the held-out benchmark or `check`."""
    reserved = reserved_general() | {p.answer for p in check if p.family in ("words", "digits")}
    families, weights, counter = list(GENERAL_WEIGHTS), list(GENERAL_WEIGHTS.values()), iter(range(10 ** 9))

    def next_problem(rng) -> tasks.GeneralProblem:
        while True:
            p = tasks.make_general(rng, rng.choices(families, weights)[0], next(counter), prefix="train-general")
            if p.answer not in reserved:
                return p

    return next_problem


def train_teacher(out: Path, *, steps: int, batch: int, lr: float, seed: int, eval_every: int,
                  init: Path | None = None) -> dict:
    """From scratch (a new tokenizer and model), or from `init`'s weights and
    tokenizer: retraining the bundled teacher that way keeps its vocabulary, so
    the student base (which shares it) stays valid."""
    out.mkdir(parents=True, exist_ok=True)
    template = load_template("math")
    if init is None:
        tok = build_tokenizer(out)
        model = _new_model(tok, ARCHITECTURE, seed, family="llama")
        lineage = None
    else:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tok = AutoTokenizer.from_pretrained(init)
        model = AutoModelForCausalLM.from_pretrained(init, dtype="float32")
        previous = json.loads((Path(init) / "TRAINING.json").read_text()) if (Path(init) / "TRAINING.json").exists() else {}
        # what `init` was, and what it came from in turn (its own lineage), so the chain is never cut
        lineage = {"init": str(init), "previous": {k: previous.get(k) for k in ("steps", "lr", "seconds", "training_mix",
                                                                                   "general_share", "lineage")}}
    params = sum(p.numel() for p in model.parameters())
    print(f"teacher: {params / 1e6:.2f}M parameters, vocab {len(tok)}", flush=True)
    check, next_problem = _check_problems(seed), _unseen_problems("train")
    prompter, general_check = general_prompter(), _general_check(seed)
    next_general = _unseen_general(general_check)

    def example(rng):
        if rng.random() < GENERAL_SHARE:
            return encode_general(tok, prompter, next_general(rng), tasks.pick_flaw(rng, tasks.GENERAL_MIX))
        return encode(tok, template, next_problem(rng), tasks.pick_flaw(rng), rng)

    def evaluate(m):
        return {"greedy_accuracy": greedy_accuracy(m, tok, template, check),
                "general_accuracy": general_accuracy(m, tok, prompter, general_check)}

    history, seconds = _loop(model, tok, example, steps=steps, batch=batch, lr=lr, seed=seed,
                             evaluate=evaluate, eval_every=eval_every)
    record = {"parameters": params, "architecture": ARCHITECTURE, "vocab": len(tok), "steps": steps,
              "batch": batch, "lr": lr, "seed": seed, "seconds": seconds, "training_mix": tasks.TRAINING_MIX,
              "general_share": GENERAL_SHARE, "general_mix": tasks.GENERAL_MIX,
              "loop_tokens": list(LOOP_TOKENS), "history": history, **({"lineage": lineage} if lineage else {})}
    _save(model, tok, out, record)
    return record


def _textbook(p: tasks.Problem) -> tuple[str, str]:
    """A worked example as maths text would print it: no chat, no <think>, no \\boxed."""
    ops = p.operands
    head = f"x + {ops[0]} = {ops[1]}" if p.family == "equation" else " + ".join(map(str, ops))
    reasoning, _ = tasks.trace(p, None)
    return f"Example: {head}\n", reasoning + "\n"


def student_base_accuracy(model, tok, problems: list[tasks.Problem]) -> float:
    import re

    import torch

    model.eval()
    tok.padding_side = "left"
    right = 0
    for i in range(0, len(problems), 64):
        batch = problems[i:i + 64]
        enc = tok([_textbook(p)[0] for p in batch], return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.no_grad():
            out = model.generate(**enc, max_new_tokens=160, do_sample=False, eos_token_id=tok.eos_token_id,
                                 pad_token_id=tok.pad_token_id)
        for p, ids in zip(batch, out[:, enc["input_ids"].shape[1]:]):
            found = re.findall(r"So [^\n]*= (\d+)\.", tok.decode(ids, skip_special_tokens=True))
            right += bool(found) and found[0] == p.answer
    model.train()
    return right / len(problems)


def train_student_base(out: Path, *, steps: int, batch: int, lr: float, seed: int, eval_every: int) -> dict:
    """The lab's stand-in for a pretrained base (Qwen2.5-Math knows maths before
    distillation): the student architecture pretrained on worked column
    arithmetic written as plain text. It has never seen a chat turn, a
    <think> block, a \\boxed answer, a word problem or a flawed trace; the
    distillation teaches those."""
    from transformers import Qwen2Tokenizer

    out.mkdir(parents=True, exist_ok=True)
    # The student is a Qwen2, so transformers and vLLM read its folder with Qwen2Tokenizer
    # (the teacher's vocabulary, Qwen2's pre-tokenizer); it is pretrained the same way.
    tok = Qwen2Tokenizer.from_pretrained(TEACHER)
    tok.eos_token = "<|endoftext|>"  # plain text ends with end-of-text, not end-of-turn
    model = _new_model(tok, STUDENT_ARCHITECTURE, seed)
    params = sum(p.numel() for p in model.parameters())
    print(f"student base: {params / 1e6:.2f}M parameters", flush=True)
    check, next_problem = _check_problems(seed), _unseen_problems("base")

    def example(rng):
        head, body = _textbook(next_problem(rng))
        return tok(head + body + tok.eos_token, add_special_tokens=False)["input_ids"], 0

    history, seconds = _loop(model, tok, example, steps=steps, batch=batch, lr=lr, seed=seed,
                             evaluate=lambda m: {"greedy_accuracy": student_base_accuracy(m, tok, check)},
                             eval_every=eval_every)
    tok.eos_token = "<|im_end|>"  # what the chat template ends turns with, as for the teacher
    record = {"parameters": params, "architecture": STUDENT_ARCHITECTURE, "vocab": len(tok), "steps": steps,
              "batch": batch, "lr": lr, "seed": seed, "seconds": seconds, "history": history}
    _save(model, tok, out, record)
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m factory.lab.train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", choices=["teacher", "student-base"])
    parser.add_argument("--out", type=Path, default=None, help="default: the bundled copy's folder")
    parser.add_argument("--steps", type=int, default=1600)
    parser.add_argument("--batch", type=int, default=48)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eval-every", type=int, default=400)
    parser.add_argument("--init", type=Path, default=None,
                        help="teacher only: start from this model folder (its weights and tokenizer), "
                             "e.g. the bundled teacher, instead of from scratch")
    args = parser.parse_args(argv)
    fn, default_out = {"teacher": (train_teacher, TEACHER), "student-base": (train_student_base, STUDENT_BASE)}[args.model]
    out = args.out or default_out
    if args.init is not None and args.model != "teacher":
        parser.error("--init is for the teacher")
    extra = {"init": args.init} if args.init is not None else {}
    record = fn(out, steps=args.steps, batch=args.batch, lr=args.lr, seed=args.seed, eval_every=args.eval_every,
                **extra)
    print(f"{args.model} written to {out} in {record['seconds']}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
