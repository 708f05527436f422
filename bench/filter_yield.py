"""Yield and precision of the shipped filter chain on R1-shaped traces of real maths text.

The corpus: the shipped benchmarks' problems that have a reference solution are
split in two halves. One half is the input problem set; the other half is the
benchmark list decontamination checks (written as `extra` files), so the
input's problems share sources, phrasing and Asymptote with the benchmark the
way MATH train shares them with MATH-500. Each input problem gets 4 samples
shaped the way R1 writes: an opening that restates the problem, the human
reference solution (its `$$…$$` turned into `\\[`/`\\]` display blocks,
its tables, drawings and `align` blocks kept), "Wait," / "Hmm," checks, and a
markdown response with a **Final Answer** in `\\boxed{}`. Samples differ in
opening and checks; one in ten is an exact copy of another (fine to drop).

Planted, as real teachers fail: wrong answers, a Chinese connective or sentence
mid-reasoning, a sentence or block looping 3-8 times, a loop cut at the context,
a Python block, a corrupted escape (form feed); and leaks: benchmark-half
problems in the problem column (verbatim, lightly edited, wrapped in
instructions) and traces quoting one.

    python bench/filter_yield.py [--problems 1200]

Goals (issue 11): >= 95% of correct clean traces kept (exact copies aside),
precision >= 0.99, >= 95% of planted flaws and leaks caught.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from factory.core.machine import cpu_line  # noqa: E402
from filters.decontamination import DEFAULT_BENCHMARKS, SHIPPED  # noqa: E402

OPENINGS = ["Okay, so I need to solve this problem: {p}", "Alright, let me try to figure this out. The problem says: {p}",
            "Okay, let's see. The question is: {p}\n\nHmm, let me think about how to approach this.",
            "Let me start by restating the problem to make sure I understand it. {p}"]
CHECKS = ["Wait, let me double-check that step.", "Hmm, that seems right, but let me verify it another way.",
          "Wait, no. Let me re-read the problem to make sure I have the conditions right.",
          "Let me make sure I didn't make an arithmetic mistake here.", "Hmm.", "Wait,",
          "So far so good. Let me continue.", "Actually, let me reconsider this part more carefully."]
SYNONYMS = {"find": "determine", "compute": "calculate", "what": "which", "the": "a", "is": "equals", "and": "plus"}


def load(name: str) -> list[dict]:
    return [json.loads(line) for line in open(SHIPPED / f"{name}.jsonl", encoding="utf-8")]


def r1_reasoning(problem: str, solution: str, rng: random.Random) -> str:
    body = re.sub(r"\$\$(.+?)\$\$", lambda m: "\n\\[\n" + m.group(1).strip() + "\n\\]\n", solution, flags=re.S)
    paras = [p for p in re.split(r"\n\s*\n", body) if p.strip()]
    out = [rng.choice(OPENINGS).format(p=problem)]
    checks = rng.sample(CHECKS, k=min(len(CHECKS), rng.randint(1, 4)))
    for i, p in enumerate(paras):
        out.append(p)
        if checks and rng.random() < 0.5:
            out.append(checks.pop())
    out += checks
    return "\n\n".join(out)


def response(solution: str, answer: str) -> str:
    last = [p for p in re.split(r"\n\s*\n", solution) if p.strip()][-1]
    return f"**Solution.** {last}\n\n**Final Answer**\n\\[\n\\boxed{{{answer}}}\n\\]"


def plant(reasoning: str, flaw: str, rng: random.Random) -> tuple[str, str | None]:
    """(reasoning, finish_reason change) with one flaw."""
    paras = reasoning.split("\n\n")
    i = rng.randint(1, max(1, len(paras) - 1))
    if flaw == "drift_connective":
        paras.insert(i, f"所以 x = {rng.randint(2, 99)}.")
    elif flaw == "drift_sentence":
        paras.insert(i, rng.choice(["我们再检查一下这个结果是否正确。", "因此，这个答案是对的，我们继续。"]))
    elif flaw == "loop":
        block = rng.choice(["Wait, let me check that again.", "Hmm, so the value is what I computed before.\n"
                            "Let me recompute it from the beginning to be sure."])
        paras[i:i] = [block] * rng.randint(3, 8)
    elif flaw == "loop_to_context":
        return reasoning + "\n\nWait, let me recompute the previous step once more." * 300, "length"
    elif flaw == "code":
        paras.insert(i, "Let me check this with code:\n```python\nprint(sum(range(10)))\n```")
    elif flaw == "control_chars":
        j = reasoning.find("\\f")
        return (reasoning[:j] + "\x0c" + reasoning[j + 2:] if j >= 0 else reasoning + "\x0crac12"), None
    return "\n\n".join(paras), None


def build(problems: int, rng: random.Random, work: Path) -> tuple[Path, list[dict], list[Path]]:
    from filters.text import content_words

    # Split by question family: sub-questions that share a preamble go to the same half, or one
    # half would quote the other (Minerva's "Subproblem 0: <another Minerva problem> Solution: …").
    def family(problem: str) -> str:
        ws = content_words(problem)
        while ws and ws[0] in ("preamble", "subproblem", "0"):
            ws = ws[1:]
        return " ".join(ws[:10])

    families: dict[tuple, list[dict]] = {}
    for name in DEFAULT_BENCHMARKS:
        for r in load(name):
            if name != "lab" and (r.get("solution") or "").strip():
                families.setdefault((name, family(r["problem"])), []).append(dict(r, bench=name))
    groups = list(families.values())
    rng.shuffle(groups)
    inputs, held = [], []
    for g in groups:
        (inputs if len(inputs) <= len(held) else held).extend(g)
    inputs = inputs[:problems]
    extra = []
    for name in {r["bench"] for r in held}:
        path = work / f"held-{name}.jsonl"
        path.write_text("".join(json.dumps({"id": r["id"], "problem": r["problem"]}) + "\n"
                                for r in held if r["bench"] == name))
        extra.append(path)
    flaws = {"wrong_answer": 0.12, "drift_connective": 0.03, "drift_sentence": 0.03, "loop": 0.04,
             "loop_to_context": 0.03, "code": 0.03, "control_chars": 0.01}
    rows, truth = [], []
    for k, r in enumerate(inputs):
        kind, problem, pid = "clean", r["problem"], r["id"]
        if rng.random() < 0.04:  # a leak in the problem column
            leak = rng.choice(held)
            kind, pid, r = "leak_problem", f"leak-{k}", leak
            how = rng.choice(["verbatim", "edited", "wrapped"])
            problem = leak["problem"] if how == "verbatim" else (
                f"Solve the following problem. {leak['problem']} Give the final answer in a box." if how == "wrapped"
                else " ".join(SYNONYMS.get(w.lower(), w) if rng.random() < 0.1 else w
                              for w in leak["problem"].split(" ")).replace("\\frac", "\\dfrac"))
        samples = []
        for s in range(4):
            if samples and samples[-1][1] == kind and rng.random() < 0.1:  # the same completion again
                reasoning = samples[-1][0]
            else:
                reasoning = r1_reasoning(problem, r["solution"], rng)
            label = kind
            if kind == "clean" and any(reasoning == x for x, lab in samples if lab == "clean"):
                label = "duplicate"  # planted, or the same opening and checks drawn twice
            answer, finish = r["answer"], "stop"
            if label == "clean":
                roll, acc = rng.random(), 0.0
                for flaw, share in flaws.items():
                    acc += share
                    if roll < acc:
                        label = flaw
                        break
                if label == "wrong_answer":
                    answer = f"{answer}+1"
                elif label != "clean":
                    reasoning, changed = plant(reasoning, label, rng)
                    finish = changed or finish
                elif rng.random() < 0.02:  # a trace that quotes a benchmark problem
                    label = "leak_trace"
                    reasoning += "\n\nThis reminds me of another problem: " + rng.choice(held)["problem"]
            samples.append((reasoning, label))
            resp = response(r["solution"], answer) if finish == "stop" else None
            completion = f"<think>\n{reasoning}" + (f"\n</think>\n\n{resp}" if resp is not None else "")
            rows.append({"problem_id": pid, "sample": s, "problem": problem, "answer": r["answer"],
                         "completion": completion, "finish_reason": finish, "source": r["bench"]})
            truth.append(label)
    path = work / "traces.jsonl"
    path.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in rows))
    return path, [dict(row, label=label) for row, label in zip(rows, truth)], extra


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--problems", type=int, default=1200)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    print(cpu_line(), flush=True)

    import pyarrow.parquet as pq

    from filters.chain import FilterRunConfig, run
    from filters.config import DEFAULT_CONFIG

    work = Path(tempfile.mkdtemp(prefix="bench-yield-"))
    src, rows, extra = build(args.problems, random.Random(args.seed), work)
    config = work / "filters.yaml"
    config.write_text(DEFAULT_CONFIG.read_text().replace(
        "benchmarks: [math500, aime24, amc23, minerva_math, olympiadbench, gsm8k_test, lab]", "benchmarks: []")
        .replace("extra: []", "extra: [" + ", ".join(str(p) for p in extra) + "]"))
    t = time.perf_counter()
    report = run(FilterRunConfig(input=str(src), out=work / "out", config=config))
    seconds = time.perf_counter() - t
    out = {}
    for part in ("accepted", "rejected"):
        table = pq.ParquetDataset(work / "out" / part).read(columns=["problem_id", "sample", "reject_reason",
                                                                     "reject_filter", "reject_detail"])
        for r in table.to_pylist():
            out[(r["problem_id"], r["sample"])] = r
    labels = Counter(r["label"] for r in rows)
    print(f"corpus: {len(rows):,} traces of {len({r['problem_id'] for r in rows}):,} problems, "
          f"mean {sum(len(r['completion']) for r in rows) / len(rows) / 1e3:.1f}k chars; "
          f"decontamination against {sum(1 for p in extra for _ in open(p)):,} held-out benchmark problems")
    print(f"filtered in {seconds:.1f} s\n")
    print(f"{'label':<18}{'traces':>8}{'kept':>8}{'dropped':>9}  top reasons")
    by_label: dict[str, Counter] = {}
    for r in rows:
        v = out[(r["problem_id"], r["sample"])]
        by_label.setdefault(r["label"], Counter())[v["reject_reason"] or "kept"] += 1
    for label, n in sorted(labels.items(), key=lambda kv: (kv[0] != "clean", kv[0])):
        c = by_label[label]
        top = ", ".join(f"{k} {v}" for k, v in c.most_common(4) if k != "kept")
        print(f"{label:<18}{n:>8}{c['kept']:>8}{n - c['kept']:>9}  {top}")
    clean = labels["clean"]
    kept_clean = by_label["clean"]["kept"]
    accepted = sum(c["kept"] for c in by_label.values())
    good = kept_clean + by_label.get("duplicate", Counter())["kept"]  # a kept copy is still correct and clean
    flawed = sum(n for label, n in labels.items() if label not in ("clean", "duplicate"))
    caught = sum(n - by_label[label]["kept"] for label, n in labels.items() if label not in ("clean", "duplicate"))
    print(f"\nyield: {kept_clean}/{clean} correct clean traces kept = {100 * kept_clean / clean:.1f}% (goal >= 95%)")
    print(f"precision: {good}/{accepted} accepted traces are correct and clean = "
          f"{good / max(1, accepted):.4f} (goal >= 0.99)")
    print(f"planted flaws and leaks caught: {caught}/{flawed} = {100 * caught / flawed:.1f}% (goal >= 95%)")
    lost = [(r["label"], out[(r["problem_id"], r["sample"])]) for r in rows if r["label"] == "clean"
            and out[(r["problem_id"], r["sample"])]["reject_reason"]]
    for label, v in lost[:8]:
        print(f"  clean trace dropped: {v['problem_id']} {v['reject_reason']} {(v['reject_detail'] or '')[:160]}")
    print("\n" + report.yields.table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
