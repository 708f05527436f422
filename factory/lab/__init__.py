"""The miniature lab: a teacher small enough to train on a CPU, real enough to fail like R1.

- `tasks`: synthetic problems with checkable answers (column addition, three-term
  sums, linear equations) and their `<think>` traces, clean or with a failure; and a
  general chat task (number words, self-cognition, greetings) for R1's non-reasoning data.
- `teacher`: trains the bundled teacher (factory/data/lab/teacher) from scratch.
- `demo`: `make demo`, the whole distillation loop on the bundled teacher.
"""

from pathlib import Path

from factory.core.layout import BENCHMARKS_DIR

LAB_DATA = Path(__file__).resolve().parent.parent / "data" / "lab"
TEACHER = LAB_DATA / "teacher"
STUDENT_BASE = LAB_DATA / "student-base"       # the `tiny` recipe's pretrained base
PROBLEMS = LAB_DATA / "problems.jsonl"          # what `factory.generate` samples by default
HELD_OUT = BENCHMARKS_DIR / "lab.jsonl"          # evaluation: the `lab` benchmark
GENERAL_PROBLEMS = LAB_DATA / "general.jsonl"    # the general chat data the demo mixes in (tasks.py)
GENERAL_HELD_OUT = BENCHMARKS_DIR / "lab_general.jsonl"   # evaluation: the `lab_general` benchmark
# The lab's context: new tokens per sample in the demo, for every model (R1 allowed 32,768).
# A clean trace takes 70-160; a loop runs until it is cut here (finish reason `length`).
MAX_TOKENS = 384

# Where the verbs' embedded defaults put and find things, relative to the
# working directory: each verb with no arguments chains on the previous one.
RUN = Path("runs/lab")
GENERATE_OUT = RUN / "generate"
FILTER_OUT = RUN / "filter"
STAGE = RUN / "hub"
PLACEHOLDER_REPO = "factory-lab/r1-lab-traces"   # names the staged card in a dry run; never uploaded to


def student_out(size: str) -> Path:
    return RUN / f"student-{size}"


DEFAULT_STUDENT_MODEL = student_out("tiny") / "model"
EVAL_OUT = RUN / "eval-student-tiny"



# The verbs' defaults when run with no arguments: each chains on the previous one.
GENERATE_DEFAULTS = {"problems": str(PROBLEMS), "teacher": str(TEACHER), "out": GENERATE_OUT}
FILTER_DEFAULTS = {"input": str(GENERATE_OUT), "out": FILTER_OUT}


def student_model(model: str) -> str:
    """A recipe's `model: tiny` is the bundled student base; any other name stays as is."""
    return str(STUDENT_BASE) if model == "tiny" else model
