"""The R1 paper's scores beside yours: which distilled model a run is compared with, and the table.

The figures live in factory/data/r1_paper.yaml with their source. `--paper` chooses the model:
  auto     (default) the student's size or base from its factory_student.json (students/sft.py),
           or a model named like the paper's (deepseek-ai/DeepSeek-R1-Distill-Qwen-7B); none else
  7b …     a recipe size (students/recipes: 1.5b, 7b, 8b, 14b, 32b, 70b)
  NAME     a model of the table (DeepSeek-R1-Distill-Llama-8B), or its base (Qwen/Qwen2.5-Math-7B)
  none     no comparison
A measured pass@1 "matches" the paper's when it is within two standard errors of it.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import yaml

PAPER = Path(__file__).resolve().parents[1] / "data" / "r1_paper.yaml"


@lru_cache(maxsize=1)
def figures() -> dict:
    return yaml.safe_load(PAPER.read_text(encoding="utf-8"))


def choices() -> list[str]:
    models = figures()["models"]
    return ["auto", "none", *sorted({m["size"] for m in models.values()}), *models]


def find(key: str) -> str | None:
    """The paper's model a size, a model name or a base names (case aside), or None."""
    k = key.strip().casefold().removeprefix("deepseek-ai/")
    for name, m in figures()["models"].items():
        if k in (name.casefold(), m["size"], m["base"].casefold()):
            return name
    return None


def match(choice: str, model: str) -> str | None:
    """The paper's model for `--paper choice` and the evaluated `model` (see the module docstring);
    ValueError for a choice that names none."""
    if choice == "none":
        return None
    if choice != "auto":
        found = find(choice)
        if found is None:
            raise ValueError(f"--paper {choice!r}: expected auto, none, a size or a model of the R1 table "
                             f"({', '.join(choices()[2:])})")
        return found
    record = Path(model) / "factory_student.json"
    if record.is_file():
        try:
            student = json.loads(record.read_text())
        except (OSError, json.JSONDecodeError):
            return None
        return find(str(student.get("size", ""))) or find(str(student.get("base", "")))
    return find(Path(model).name) or find(model)


def comparison(name: str) -> dict:
    """What results.json records: the paper's model, its figures and where they come from."""
    data = figures()
    return {"model": name, "scores": data["models"][name]["scores"], "source": " ".join(data["source"].split()),
            "protocol": data["protocol"], "columns": data["columns"]}


def _verdict(measured: float, se: float, paper: float) -> str:
    gap = measured - paper
    if se <= 0:
        return "matches" if abs(gap) < 0.05 else ("above" if gap > 0 else "below")
    z = gap / se
    word = "matches" if abs(z) < 2 else ("above" if z > 0 else "below")
    return f"{word} ({z:+.1f} SE)"


def lines(results: list[dict]) -> list[str]:
    """The table of measured scores against the paper's, for every result that has a comparison."""
    rows = []
    for r in results:
        paper = r.get("paper")
        if not paper:
            continue
        for bench, s in r["benchmarks"].items():
            theirs = paper["scores"].get(bench)
            if not theirs:
                continue
            mine, se = 100 * s["pass@1"], 100 * s["pass@1_se"]
            cons = "" if "cons@64" not in theirs or s.get("cons@k") is None else \
                f" cons@{s['k']} {100 * s['cons@k']:.1f} vs cons@64 {theirs['cons@64']:.1f};"
            rows.append(f"| {paper['columns'].get(bench, bench)} | {r['model']} | {mine:.1f} ± {se:.1f} (k={s['k']}) "
                        f"| {theirs['pass@1']:.1f} |{cons} {_verdict(mine, se, theirs['pass@1'])} |")
        rating = paper["scores"].get("codeforces", {}).get("rating")
        if rating is not None and any(b in paper["scores"] for b in r["benchmarks"]):
            rows.append(f"| CodeForces | {r['model']} | not measured (a contest rating) | rating {rating} | - |")
    if not rows:
        return []
    ref = next(r["paper"] for r in results if r.get("paper"))
    proto = ref["protocol"]
    return ["", f"Against the R1 paper ({', '.join(sorted({r['paper']['model'] for r in results if r.get('paper')}))};"
                f" {ref['source']}):", "",
            "| benchmark | model | measured pass@1 | paper pass@1 | verdict (within 2 SE: matches) |",
            "|---|---|---|---|---|", *rows, "",
            f"The paper sampled {proto['samples']} responses per query at temperature {proto['temperature']}, top-p "
            f"{proto['top_p']}, up to {proto['max_tokens']:,} tokens; LiveCodeBench {proto['livecodebench_window']}.",
            *_differences(results, proto)]


def _differences(results: list[dict], proto: dict) -> list[str]:
    """A line for each run whose protocol differs from the paper's in what moves the numbers."""
    out = []
    for r in results:
        mine = r.get("protocol", {})
        ks = sorted({s["k"] for s in r["benchmarks"].values()})
        notes = [f"k={'/'.join(map(str, ks))}"] if ks and ks[0] < proto["samples"] else []
        if mine.get("max_tokens") and mine["max_tokens"] < proto["max_tokens"]:
            notes.append(f"up to {mine['max_tokens']:,} tokens (long answers are cut)")
        if mine.get("temperature") not in (None, proto["temperature"]) or mine.get("top_p") not in (None, proto["top_p"]):
            notes.append(f"temperature {mine.get('temperature')}, top-p {mine.get('top_p')}")
        window = r["benchmarks"].get("livecodebench", {}).get("window")
        if window and window != proto["livecodebench_window"]:
            notes.append(f"LiveCodeBench window {window}")
        if notes and r.get("paper"):
            out.append(f"{r['model']} differs: {', '.join(notes)}.")
    return out
