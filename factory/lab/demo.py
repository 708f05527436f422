"""`make demo`: R1 distillation end to end, in miniature, on this CPU, offline.

  python -m factory.demo [--problems N] [--samples 4] [--eval-problems N] [--student-steps N]
                         [--general-share 0.25]

1. generate   the bundled teacher samples R1 traces for the bundled problems (temperature 0.6),
              and writes the chain of thought for the bundled general chat data by prompting
              (number words, self-cognition, greetings: R1's other 200k, in miniature)
2. teacher    the teacher is scored on the held-out `lab` benchmark (same engine): pass@1 and
              the flaws in its own samples (mixed language, loops, code, length); not on
              `lab_general`: it learnt to explain a reply it is shown, not to find one alone
3. filter     rejection sampling of both; the funnel by filter and by flaw
4. publish    the mixture built from the accepted traces (every reasoning trace, and general rows
              up to a quarter of the whole: R1's 600k : 200k) staged as a Hub dataset repo, its
              card listing each source (dry run)
5. students   the same 0.9M-parameter student distilled twice, with equal compute:
              on the filtered mixture and on the same mixture of all traces, unfiltered
6. evaluate   both students on the held-out problems (and `lab_general`): pass@1, cons@k and
              their own flaws
7. summary    a table, runs/lab/summary.json and runs/lab/summary.png (rejections by flaw,
              scores, and each model's flaw rates: teacher, filtered and unfiltered student)

Everything lands in runs/lab, where each verb's no-argument defaults look, so
`python -m factory.filter` and the rest can be rerun by hand on the demo's
outputs. Rerunning the demo resumes: traces, samples and students on disk are
reused.
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq
import yaml

from factory import lab
from factory.core import layout
from factory.core.charts import distillation_chart
from factory.core.errors import InputError
from factory.core.cli import LogOptions, parse_config, quiet, run_cli
from factory.core.shards import atomic_write_json
from factory.evaluation import EvaluateConfig, evaluate
from factory.hub.publishing import PublishConfig, publish_dataset
from factory.lab import tasks
from filters.chain import FilterRunConfig
from filters.chain import run as run_filters
from filters.flaws import DESCRIPTIONS
from generators import pilot
from generators.backend import BackendOptions, make_backend, resolve_backend
from generators.config import GenerateConfig
from generators.options import EngineOptions, FarmOptions, project
from generators.run import main as generate
from students import mixture
from students import recipe as recipes
from students.sft import train


@dataclass(kw_only=True)
class DemoConfig(EngineOptions, FarmOptions, BackendOptions, LogOptions):
    """The demo's own settings; the teacher's engine and farm options and --backend are generate's
    (generators/options.py, generators/backend.py)."""

    run: Path = field(default=lab.RUN, metadata={"help": "where everything goes"})
    teacher: str = field(default=str(lab.TEACHER), metadata={
        "help": "teacher model (default: the bundled one); e.g. deepseek-ai/DeepSeek-R1 on GPUs"})
    n_problems: int = field(default=1000, metadata={"flag": "--problems", "help": "bundled problems to sample (of 1,200)"})
    # At 0.6 a problem's correct samples are mostly word for word the same (one right way to add
    # columns): two samples of more problems give the filtered student more distinct traces than
    # four of fewer, for the same generation (measured: bench/README.md, "What the figures show").
    samples: int = field(default=2, metadata={"help": "teacher samples per problem"})
    # The R1 protocol: the teacher learned each flaw as one token choice (factory/lab/tasks.py),
    # which survives temperature 0.6. Evaluation samples every model at 0.6 too.
    temperature: float = field(default=0.6, metadata={"help": "teacher sampling temperature (R1: 0.6)"})
    max_tokens: int = field(default=lab.MAX_TOKENS, metadata={
        "help": "new tokens per sample, every model (the lab's context; R1: 32,768): a loop runs until cut here"})
    # The first 200 of the 300 held-out problems, and k = 3 for the students, 2 for the teacher: with
    # the unfiltered student now training on loops run to the context, the full 300 x 4 and 200
    # steps ran over the 6-minute budget; 170 steps fit but left both students near zero
    # (bench/README.md, "What the figures show").
    eval_problems: int | None = field(default=200, metadata={"help": "held-out problems (of 300)"})
    eval_samples: int = field(default=3, metadata={"help": "k: samples per held-out problem, for the students"})
    teacher_eval_samples: int = field(default=2, metadata={
        "help": "k for the teacher (its pass@1 is high: two samples pin it down)"})
    student_steps: int | None = field(default=None, metadata={"help": "optimizer steps per student (default: the tiny recipe's)"})
    # R1's 800k: ~600k reasoning traces and ~200k general samples.
    general_share: float = field(default=0.25, metadata={
        "help": "at most this share of general (chat) rows in the students' mixture, beside every reasoning "
                "trace; 0: reasoning traces only, no general task"})
    general_problems: int | None = field(default=None, metadata={"help": "bundled general chat rows to sample (of 400)"})

    def check(self):
        self.run = Path(self.run)
        for flag, value in (("--problems", self.n_problems), ("--eval-problems", self.eval_problems),
                            ("--eval-samples", self.eval_samples), ("--teacher-eval-samples", self.teacher_eval_samples),
                            ("--student-steps", self.student_steps), ("--general-problems", self.general_problems)):
            if value is not None and value < 1:
                raise ValueError(f"{flag} must be at least 1")
        if not 0 <= self.general_share < 1:
            raise ValueError(f"--general-share must be in [0, 1), not {self.general_share}")
        resolve_backend(self)  # once here: generate and the teacher's evaluation get it resolved
        _teacher_configs(self)


R1_TRACES = 800_000   # the R1 paper's SFT set: ~600k reasoning + ~200k general samples


def _step(n: int, title: str, started: float) -> None:
    print(f"\n[{n}/7] {title}  (demo time {time.monotonic() - started:.0f}s)", flush=True)


def _benchmarks(config: DemoConfig) -> list[str]:
    return ["lab", "lab_general"] if config.general_share else ["lab"]


def _teacher(config: DemoConfig, started: float) -> dict:
    """Steps 1-2: sample the teacher (problems, then chat data), then score it on the held-out problems
    on the same engine."""
    _step(1, f"generate: teacher {config.teacher}, {config.n_problems or 'all'} bundled problems "
             f"× {config.samples} samples, temperature {config.temperature}, top-p 0.95", started)
    gen, general, teacher_eval = _teacher_configs(config)
    backend = make_backend(gen)
    try:
        print(generate(gen, backend=backend).table())
        if general is not None:
            print(f"\ngeneral chat data ({general.problems}): the teacher writes the chain of thought by prompting")
            print(generate(general, backend=backend).table())
        _step(2, f"teacher on the held-out lab benchmark ({config.teacher_eval_samples} samples per problem)",
              started)
        return evaluate(teacher_eval, backend=backend)
    finally:
        backend.close()


def _teacher_configs(config: DemoConfig) -> tuple[GenerateConfig, GenerateConfig | None, EvaluateConfig]:
    """Generate's configs (problems, chat data) and the teacher evaluation's: built when the demo's flags
    are parsed too, so a bad shared value (--samples 0) is exit 2 before anything runs."""
    gen = project(config, GenerateConfig, problems=str(lab.PROBLEMS), out=config.run / "generate",
                  limit=config.n_problems)
    general = project(config, GenerateConfig, problems=str(lab.GENERAL_PROBLEMS), out=config.run / "generate-general",
                      limit=config.general_problems, samples=1) if config.general_share else None
    return gen, general, project(config, EvaluateConfig, model=config.teacher, out=config.run / "eval-teacher",
                                 benchmarks=["lab"], samples=config.teacher_eval_samples,
                                 limit=config.eval_problems, temperature=0.6, tokenizer=gen.tokenizer)


def _filter_and_stage(config: DemoConfig, started: float) -> str:
    """Steps 3-4: rejection sampling, then what the students learn from staged as a Hub repo (dry run)."""
    _step(3, "filter: rejection sampling", started)
    runs = [("generate", "filter")] + ([("generate-general", "filter-general")] if config.general_share else [])
    for source, out in runs:
        print(run_filters(FilterRunConfig(input=str(config.run / source), out=config.run / out,
                                          overwrite=True)).table())
    found = pilot.read_pilot(config.run / "filter")   # the lab's run as a pilot of R1's 800k
    print("\n" + "\n".join(pilot.lines(pilot.plan(found, R1_TRACES, round(found.samples)), found)))
    data = _data(config, filtered=True)
    _step(4, f"publish --dry-run: stage {'the mixture' if config.general_share else 'the accepted traces'} "
             "as a Hub dataset", started)
    staged = publish_dataset(PublishConfig(data=Path(data), repo_id=lab.PLACEHOLDER_REPO, dry_run=True,
                                           stage=config.run / "hub"))
    print(f"staged {staged.stage}: {staged.rows:,} rows; load_dataset round-trip ok; card ok")
    return data


def _data(config: DemoConfig, filtered: bool) -> str:
    """What a student learns from: the filter output (or, unfiltered, the generate run), or with general
    data the mixture of both kinds (students/mixture.py): its file written, and built beside it (reused
    when built already)."""
    reasoning, general = ("filter", "filter-general") if filtered else ("generate", "generate-general")
    if not config.general_share:
        return str(config.run / reasoning)
    name = "mixture" if filtered else "mixture-unfiltered"
    # Every reasoning row, as without general data, so the comparison isolates what the general rows
    # add; general rows up to --general-share of the whole.
    n_reasoning, n_general = (_rows(config.run / r) for r in (reasoning, general))
    cap = math.floor(n_reasoning * config.general_share / (1 - config.general_share))
    sources = [{"id": str(config.run / reasoning), "rows": n_reasoning}]
    if min(n_general, cap):   # a teacher with no general trace accepted leaves the mixture one source
        sources.append({"id": str(config.run / general), "rows": min(n_general, cap)})
    doc = {"dataset_mixture": {"datasets": sources, "seed": 42}}
    path = config.run / f"{name}.yaml"
    path.write_text(f"# The demo's {'filtered' if filtered else 'unfiltered'} mixture (students/mixture.py): "
                    "reasoning traces and general chat data, R1's 600k : 200k in miniature.\n"
                    + yaml.safe_dump(doc, sort_keys=False))
    built = mixture.build(mixture.load(path), config.run / name, overwrite=True)
    if not built.reused:
        print(f"mixture {config.run / name}: " + ", ".join(
            f"{s['rows_taken']:,} rows of {s['id']} ({100 * s['share']:.0f}%)" for s in built.sources))
    return str(config.run / name)


def _rows(run: Path) -> int:
    """Rows of a run folder's data (a filter's accepted traces, a generate run's traces); 0 when none."""
    try:
        return sum(pq.ParquetFile(f).metadata.num_rows for f in layout.data_files(run))
    except InputError:   # an empty accepted/ folder: nothing was accepted
        return 0


def _students(config: DemoConfig, filtered: str, started: float) -> dict:
    """Step 5: the tiny student distilled twice with equal compute, on `filtered` (the data step 4 staged)
    and on all traces."""
    recipe = recipes.load("tiny")
    recipe.model = lab.student_model(recipe.model)
    students = {}
    for i, name in enumerate(("filtered", "unfiltered")):
        data = filtered if name == "filtered" else _data(config, filtered=False)
        _step(5, f"student {i + 1}/2: tiny recipe on the {name} traces ({data}), "
                 f"{config.student_steps or recipe.sft.get('max_steps')} steps", started)
        out = config.run / ("student-tiny" if name == "filtered" else "student-tiny-unfiltered")
        # Unfiltered means everything the teacher wrote, loops cut at the context included.
        result = train(recipe, data, out, max_steps=config.student_steps, unfinished=name == "unfiltered")
        students[name] = {"model": str(result.model_dir), "rows": result.used, "steps": result.steps}
    return students


def run(config: DemoConfig) -> dict:
    started = time.monotonic()
    scored = {"teacher": _teacher(config, started)}
    students = _students(config, _filter_and_stage(config, started), started)
    for name, s in students.items():
        _step(6, f"evaluate the student distilled on {name} traces", started)
        scored[f"student ({name})"] = evaluate(EvaluateConfig(
            model=s["model"], out=config.run / f"eval-student-{name}", benchmarks=_benchmarks(config),
            samples=config.eval_samples, limit=config.eval_problems, max_tokens=config.max_tokens))

    _step(7, "summary", started)
    general = config.run / "filter-general" / layout.STATS
    summary = _summary(json.loads((config.run / "filter" / layout.STATS).read_text()), scored, students,
                       time.monotonic() - started,
                       json.loads(general.read_text()) if config.general_share else None)
    atomic_write_json(config.run / "summary.json", summary)
    distillation_chart(config.run / "summary.png", summary["funnel"]["input"], summary["funnel"]["accepted"],
                       summary["funnel"]["flaws"],
                       [{**m, "label": m["model"].replace(" (", "\n(")} for m in summary["models"]],
                       "R1 distillation in miniature: rejection sampling, then SFT of a 4x smaller student")
    print(summary_table(summary))
    print(f"\nwrote {config.run / 'summary.json'} and {config.run / 'summary.png'}; "
          f"demo finished in {summary['seconds']:.0f}s")
    return summary


def _summary(stats: dict, scored: dict, students: dict, seconds: float, general: dict | None = None) -> dict:
    models = []
    for label, r in scored.items():
        b = r["benchmarks"]["lab"]
        g = r["benchmarks"].get("lab_general")
        trained = students.get(label.split("(")[-1].rstrip(")")) if label != "teacher" else None
        models.append({"model": label, "path": r["model"], "trained_on_rows": trained and trained["rows"],
                       "pass@1": b["pass@1"], "pass@1_se": b["pass@1_se"], "cons@k": b["cons@k"], "k": b["k"],
                       "problems": b["problems"], "samples": b["samples"], "flaws": b["flaws"],
                       "finish_reasons": b.get("finish_reasons", {}),
                       "general": g and {"pass@1": g["pass@1"], "pass@1_se": g["pass@1_se"], "problems": g["problems"]}})
    out = {"seconds": round(seconds, 1),
           "funnel": {"input": stats["input_rows"], "accepted": stats["accepted"], "stages": stats["funnel"],
                      "flaws": stats["flaws"]},
           "models": models, "claims": claims(models)}
    if general is not None:
        out["general_funnel"] = {"input": general["input_rows"], "accepted": general["accepted"],
                                 "stages": general["funnel"], "flaws": general["flaws"]}
    return out


def claims(models: list[dict]) -> list[dict]:
    """The R1 claim, checked: the student distilled on unfiltered traces is less accurate and
    mixes languages, loops and writes code more than the one on filtered traces. Each holds when
    the difference exceeds two standard errors (pass@1: over problems; flaw rates: binomial over
    samples, which counts a problem's k samples as independent, so it errs towards "holds")."""
    by = {m["model"]: m for m in models}
    f, u = by.get("student (filtered)"), by.get("student (unfiltered)")
    if not f or not u:
        return []
    out = [{"claim": "less accurate (pass@1)", "filtered": f["pass@1"], "unfiltered": u["pass@1"],
            "difference": f["pass@1"] - u["pass@1"], "se": math.hypot(f["pass@1_se"], u["pass@1_se"])}]
    for key, name in (("mixed_language", "mixes languages more"), ("loop_truncated", "loops / is cut more"),
                      ("code", "writes code in its reasoning more")):
        a, b = f["flaws"][key], u["flaws"][key]
        se = math.sqrt(a * (1 - a) / max(1, f["samples"]) + b * (1 - b) / max(1, u["samples"]))
        out.append({"claim": name, "filtered": a, "unfiltered": b, "difference": b - a, "se": se})
    for c in out:
        c["holds"] = c["difference"] > 2 * c["se"]
    return out


def _general_cell(g: dict | None) -> str:
    return "-" if not g else f"{100 * g['pass@1']:.1f} ± {100 * g['pass@1_se']:.1f}"


def summary_table(summary: dict) -> str:
    lines = ["", "| model | trained on | pass@1 (± SE) | cons@k | mixed language | loop / truncated | code "
                 "| mean tokens | pass@1 of clean samples | general pass@1 (± SE) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for m in summary["models"]:
        f, g = m["flaws"], m.get("general")
        clean = "-" if f["clean_pass@1"] is None else f"{100 * f['clean_pass@1']:.1f}"
        lines.append(f"| {m['model']} | {'-' if m['trained_on_rows'] is None else format(m['trained_on_rows'], ',') + ' traces'} "
                     f"| {100 * m['pass@1']:.1f} ± {100 * m['pass@1_se']:.1f} | {100 * m['cons@k']:.1f} "
                     f"| {100 * f['mixed_language']:.1f}% | {100 * f['loop_truncated']:.1f}% | {100 * f['code']:.1f}% "
                     f"| {f['mean_completion_tokens']:.0f} | {clean} | {_general_cell(g)} |")
    if summary.get("claims"):
        lines += ["", "R1's claim, the unfiltered student against the filtered one (holds: difference > 2 SE):", "",
                  "| the unfiltered student… | filtered | unfiltered | difference (± SE) | holds |", "|---|---|---|---|---|"]
        lines += [f"| {c['claim']} | {100 * c['filtered']:.1f}% | {100 * c['unfiltered']:.1f}% "
                  f"| {100 * c['difference']:+.1f} ± {100 * c['se']:.1f} | {'yes' if c['holds'] else 'no'} |"
                  for c in summary["claims"]]
    fun = summary["funnel"]
    lines += ["", f"teacher traces: {fun['input']:,} → {fun['accepted']:,} accepted", "",
              "| rejected for | traces | share of input |", "|---|---|---|"]
    lines += [f"| {DESCRIPTIONS[flaw]} (`{flaw}`) | {n:,} | {100 * n / max(1, fun['input']):.1f}% |"
              for flaw, n in fun["flaws"].items()]
    if summary.get("general_funnel"):
        g = summary["general_funnel"]
        lines += ["", f"general chat traces: {g['input']:,} → {g['accepted']:,} accepted; rejected for "
                  + (", ".join(f"{flaw} {n:,}" for flaw, n in g["flaws"].items() if n) or "nothing")]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    def go() -> int:
        config = parse_config(DemoConfig, argv, prog="python -m factory.demo", doc=__doc__)
        quiet(config, config.run, "demo")
        run(config)
        return 0

    return run_cli(go)


if __name__ == "__main__":
    sys.exit(main())
