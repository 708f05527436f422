"""`make demo`: R1 distillation end to end, in miniature, on this CPU, offline.

  python -m factory.demo [--problems N] [--samples 4] [--eval-problems N] [--student-steps N]

1. generate   the bundled teacher samples R1 traces for the bundled problems
2. teacher    the teacher is scored on the held-out `lab` benchmark (same engine)
3. filter     rejection sampling; the funnel shows every failure mode caught
4. publish    the accepted traces staged as a Hub dataset repo (dry run)
5. students   the same 0.9M-parameter student distilled twice, with equal compute:
              on the filtered traces and on all traces, unfiltered
6. evaluate   both students on the held-out problems
7. summary    a table, runs/lab/summary.json and runs/lab/summary.png (funnel + scores)

Everything lands in runs/lab, where each verb's no-argument defaults look, so
`python -m factory.filter` and the rest can be rerun by hand on the demo's
outputs. Rerunning the demo resumes: traces, samples and students on disk are
reused.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from factory import lab
from factory.core import layout
from factory.core.cli import LogOptions
from generators.options import EngineOptions, FarmOptions


@dataclass(kw_only=True)
class DemoConfig(EngineOptions, FarmOptions, LogOptions):
    """The demo's own settings; the teacher's engine and farm options are generate's (generators/options.py)."""

    run: Path = field(default=lab.RUN, metadata={"help": "where everything goes"})
    teacher: str = field(default=str(lab.TEACHER), metadata={
        "help": "teacher model (default: the bundled one); e.g. deepseek-ai/DeepSeek-R1 on GPUs"})
    n_problems: int = field(default=600, metadata={"flag": "--problems", "help": "bundled problems to sample (of 1,200)"})
    samples: int = field(default=4, metadata={"help": "teacher samples per problem"})
    # A 3M-parameter teacher is far sharper than R1: at 0.6 it almost never takes
    # the flawed branches it learned (measured: no loop, drift or code in 2,400
    # traces), so the demo samples it hot, where its failures show. Evaluation
    # keeps the R1 protocol (0.6).
    temperature: float = field(default=1.0, metadata={"help": "teacher sampling temperature"})
    eval_problems: int | None = field(default=None, metadata={"help": "held-out problems (default: all 300)"})
    eval_samples: int = field(default=4, metadata={"help": "k: samples per held-out problem, for the students"})
    teacher_eval_samples: int = field(default=2, metadata={
        "help": "k for the teacher (its pass@1 is near 96%: two samples pin it down)"})
    student_steps: int | None = field(default=None, metadata={"help": "optimizer steps per student (default: the tiny recipe's)"})

    def check(self):
        self.run = Path(self.run)


def _step(n: int, title: str, started: float) -> None:
    print(f"\n[{n}/7] {title}  (demo time {time.monotonic() - started:.0f}s)", flush=True)


def _teacher(config: DemoConfig, started: float) -> dict:
    """Steps 1-2: sample the teacher, then score it on the held-out problems on the same engine."""
    from factory.evaluation import EvaluateConfig, evaluate
    from generators.config import GenerateConfig
    from generators.options import project
    from generators.run import main as generate
    from generators.run import make_backend

    _step(1, f"generate: teacher {config.teacher}, {config.n_problems or 'all'} bundled problems "
             f"× {config.samples} samples, temperature {config.temperature}, top-p 0.95", started)
    gen = project(config, GenerateConfig, problems=str(lab.PROBLEMS), out=config.run / "generate",
                  limit=config.n_problems)
    backend = make_backend(gen)
    try:
        print(generate(gen, backend=backend).table())
        _step(2, f"teacher on the held-out lab benchmark ({config.teacher_eval_samples} samples per problem)", started)
        return evaluate(project(config, EvaluateConfig, model=config.teacher, out=config.run / "eval-teacher",
                                benchmarks=["lab"], samples=config.teacher_eval_samples, limit=config.eval_problems,
                                temperature=0.6, tokenizer=gen.tokenizer), backend=backend)
    finally:
        backend.close()


def _filter_and_stage(config: DemoConfig, started: float) -> None:
    """Steps 3-4: rejection sampling, then the accepted traces staged as a Hub repo (dry run)."""
    from factory.hub.publishing import PublishConfig, publish_dataset
    from filters.chain import FilterRunConfig
    from filters.chain import run as run_filters

    _step(3, "filter: rejection sampling", started)
    print(run_filters(FilterRunConfig(input=str(config.run / "generate"), out=config.run / "filter",
                                      overwrite=True)).table())
    _step(4, "publish --dry-run: stage the Hub dataset", started)
    staged = publish_dataset(PublishConfig(data=config.run / "filter", repo_id=lab.PLACEHOLDER_REPO, dry_run=True,
                                           stage=config.run / "hub"))
    print(f"staged {staged.stage}: {staged.rows:,} accepted rows; load_dataset round-trip ok; card ok")


def _students(config: DemoConfig, started: float) -> dict:
    """Step 5: the tiny student distilled twice with equal compute, on filtered and on all traces."""
    from students import recipe as recipes
    from students.sft import train

    recipe = recipes.load("tiny")
    recipe.model = lab.student_model(recipe.model)
    students = {}
    for i, (name, data) in enumerate((("filtered", config.run / "filter"), ("unfiltered", config.run / "generate"))):
        _step(5, f"student {i + 1}/2: tiny recipe on the {name} traces ({data}), "
                 f"{config.student_steps or recipe.sft.get('max_steps')} steps", started)
        out = config.run / ("student-tiny" if name == "filtered" else "student-tiny-unfiltered")
        result = train(recipe, str(data), out, max_steps=config.student_steps)
        students[name] = {"model": str(result.model_dir), "rows": result.used, "steps": result.steps}
    return students


def run(config: DemoConfig) -> dict:
    from factory.core.charts import funnel_and_scores_chart
    from factory.core.shards import atomic_write_json
    from factory.evaluation import EvaluateConfig, evaluate

    started = time.monotonic()
    scored = {"teacher": _teacher(config, started)}
    _filter_and_stage(config, started)
    students = _students(config, started)
    for name, s in students.items():
        _step(6, f"evaluate the student distilled on {name} traces", started)
        scored[f"student ({name})"] = evaluate(EvaluateConfig(
            model=s["model"], out=config.run / f"eval-student-{name}", benchmarks=["lab"],
            samples=config.eval_samples, limit=config.eval_problems))

    _step(7, "summary", started)
    summary = _summary(json.loads((config.run / "filter" / layout.STATS).read_text()), scored, students,
                       time.monotonic() - started)
    atomic_write_json(config.run / "summary.json", summary)
    rows = [{"label": label.replace(" (", "\n("), **r["benchmarks"]["lab"]} for label, r in scored.items()]
    funnel_and_scores_chart(config.run / "summary.png", summary["funnel"]["input"], summary["funnel"]["stages"],
                            rows, "R1 distillation in miniature: rejection sampling, then SFT of a 4x smaller student")
    print(summary_table(summary))
    print(f"\nwrote {config.run / 'summary.json'} and {config.run / 'summary.png'}; "
          f"demo finished in {summary['seconds']:.0f}s")
    return summary


# What the teacher was taught to do wrong (factory/lab/tasks.py), and the
# filter reasons that catch it.
FAILURE_MODES = {
    "truncated at the context (loops)": {"format": ["truncated"]},
    "malformed think block": {"format": ["unclosed_think", "multiple_think_blocks", "empty_reasoning",
                                         "empty_response", "no_completion"]},
    "repetition loops": {"readability": ["repeated_lines", "repetition"]},
    "code in maths reasoning": {"readability": ["code_in_reasoning"]},
    "drift into Chinese": {"language": ["mixed_language"]},
    "leaked held-out problems": {"decontamination": None},
    "wrong or missing answer": {"correctness": None},
    "duplicate samples": {"dedup": None},
}


def failure_modes(stages: list[dict]) -> dict[str, int]:
    reasons = {s["filter"]: s["reasons"] for s in stages}
    out = {}
    for mode, where in FAILURE_MODES.items():
        (filt, names), = where.items()
        got = reasons.get(filt, {})
        out[mode] = sum(n for r, n in got.items() if names is None or r in names)
    return out


def _summary(stats: dict, scored: dict, students: dict, seconds: float) -> dict:
    models = []
    for label, r in scored.items():
        b = r["benchmarks"]["lab"]
        trained = students.get(label.split("(")[-1].rstrip(")")) if label != "teacher" else None
        models.append({"model": label, "path": r["model"], "trained_on_rows": trained and trained["rows"],
                       "pass@1": b["pass@1"], "pass@1_se": b["pass@1_se"], "cons@k": b["cons@k"], "k": b["k"],
                       "problems": b["problems"], "finish_reasons": b.get("finish_reasons", {})})
    return {"seconds": round(seconds, 1),
            "funnel": {"input": stats["input_rows"], "accepted": stats["accepted"], "stages": stats["funnel"]},
            "failure_modes": failure_modes(stats["funnel"]),
            "models": models}


def summary_table(summary: dict) -> str:
    lines = ["", "| model | trained on | pass@1 (± SE) | cons@k | samples cut at the context |", "|---|---|---|---|---|"]
    for m in summary["models"]:
        cut = m["finish_reasons"].get("length", 0)
        total = sum(m["finish_reasons"].values()) or 1
        lines.append(f"| {m['model']} | {'-' if m['trained_on_rows'] is None else format(m['trained_on_rows'], ',') + ' traces'} "
                     f"| {100 * m['pass@1']:.1f} ± {100 * m['pass@1_se']:.1f} | {100 * m['cons@k']:.1f} "
                     f"| {100 * cut / total:.1f}% |")
    f = summary["funnel"]
    lines += ["", f"teacher traces: {f['input']:,} → {f['accepted']:,} accepted", "",
              "| failure mode | traces caught | share |", "|---|---|---|"]
    lines += [f"| {mode} | {n:,} | {100 * n / max(1, f['input']):.1f}% |" for mode, n in summary["failure_modes"].items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from factory.core.cli import parse_config, quiet

    config = parse_config(DemoConfig, argv, prog="python -m factory.demo", doc=__doc__)
    quiet(config, config.run, "demo")
    run(config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
