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

    python bench/sft.py [--rows 2000] [--steps 40]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

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
        self.collator, self.real, self.computed = collator, [], []

    def __call__(self, examples):
        batch = self.collator(examples)
        ids = batch["input_ids"]
        self.computed.append(ids.numel())
        self.real.append(int(batch["attention_mask"].sum()) if "attention_mask" in batch else ids.numel())
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
            "tok_s": real / seconds}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=2000)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--warmup", type=int, default=2)
    args = ap.parse_args()

    from students import recipe as recipes
    from students.data import load_rows, to_conversations
    from students.sft import build_trainer

    work = Path(tempfile.mkdtemp(prefix="bench-sft-"))
    data = corpus(work / "data", args.rows)
    conversations, _ = to_conversations(load_rows(str(data)))
    tiny = recipes.load("tiny")
    common = dict(max_steps=args.steps, save_strategy="no", logging_steps=1000, report_to="none")
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
