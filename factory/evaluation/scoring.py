"""Grading and scores, the way the R1 paper reports them.

The correctness filter (maths answers, multiple-choice letters, general replies) and the code-tests
filter (programs run against the problem's tests in the sandbox, across worker processes) grade
the samples of a generate run; the scores are

  pass@1   mean over items of (correct samples / k), with its standard error over items (the
           paper's pass@1 with k samples at temperature 0.6)
  cons@k   share of items whose majority answer (most frequent normalised final answer among the
           k samples; ties to the first seen) is correct; None for code, where no two programs
           are "the same answer"

An item is a problem; a GPQA question shown k ways (factory/evaluation/gpqa.py) is one item of k
rows, grouped by `item_id`, and it votes on the option text, not the letter, which moves.
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from factory.core import layout
from filters.answers import extract_answer, extract_choice, normalise, same_reply_key
from filters.chain import FilterRunConfig
from filters.chain import run as grade
from filters.config import FilterConfig
from filters.correctness import option_letters
from filters.flaws import output_flaw_rates


@dataclass
class Sample:
    problem_id: str        # the item: a problem, or a GPQA question whatever order it was shown in
    correct: bool
    answer: str | None     # what it votes for in cons@k (None: no answer)


def scores(samples: list[Sample], votes: bool = True) -> dict:
    """pass@1 (± standard error over items) and cons@k (None when `votes` is off) from graded samples."""
    by_item: dict[str, list[Sample]] = defaultdict(list)
    for s in samples:
        by_item[s.problem_id].append(s)
    if not by_item:
        raise ValueError("no graded samples")
    per_item, majority_correct = [], 0
    for group in by_item.values():
        per_item.append(sum(s.correct for s in group) / len(group))
        tally = Counter(s.answer for s in group if s.answer is not None)
        if tally:
            top = max(tally.values())
            winner = next(s.answer for s in group if s.answer is not None and tally[s.answer] == top)
            majority_correct += any(s.correct for s in group if s.answer == winner)
    n = len(per_item)
    mean = sum(per_item) / n
    var = sum((p - mean) ** 2 for p in per_item) / (n - 1) if n > 1 else 0.0
    return {"problems": n, "samples": len(samples), "pass@1": mean, "pass@1_se": math.sqrt(var / n),
            "cons@k": majority_correct / n if votes else None}


_ROW_COLUMNS = ("problem_id", "item_id", "problem", "domain", "choices", "completion", "reasoning", "response",
                "finish_reason", "completion_tokens", "reject_reason")


def graded_samples(graded_dir: Path) -> tuple[list[Sample], Counter, dict]:
    """Samples from a grading run (accepted: correct), their verdicts, and the flaws in them
    (filters/flaws.py: language mixing, loops or truncation, code in the reasoning, malformed output)."""
    import pyarrow.parquet as pq

    out, reasons, rows = [], Counter(), []
    for part, accepted in ((layout.ACCEPTED, True), (layout.REJECTED, False)):
        folder = graded_dir / part
        if not folder.is_dir() or not list(folder.glob("*.parquet")):
            continue
        dataset = pq.ParquetDataset(folder)
        table = dataset.read(columns=[c for c in _ROW_COLUMNS if c in dataset.schema.names])
        for row in table.to_pylist():
            out.append(Sample(row.get("item_id") or row["problem_id"], accepted, vote(row)))
            reasons[row["reject_reason"] or "correct"] += 1
            rows.append(row)
    return out, reasons, output_flaw_rates(rows, [s.correct for s in out])


def vote(row: dict) -> str | None:
    """What a sample votes for in cons@k: its normalised final answer; a general reply, its words;
    a multiple-choice answer, the text of the option it chose; a program, nothing."""
    domain, response = row.get("domain"), row.get("response") or ""
    if domain == "general":
        return same_reply_key(response) or None
    if domain == "code":
        return None
    if domain == "choice":
        letters = option_letters(row.get("choices"))   # the same letters the grader read
        choices = json.loads(row.get("choices") or "null") or list(letters)
        letter = extract_choice(response, letters)
        return None if letter is None else choices[letters.index(letter)]
    ans = extract_answer(response)
    return normalise(ans) if ans is not None else None


# The graders: correctness (maths, multiple choice, general replies) and code tests, every test run.
GRADER = {"correctness": {"no_reference": "drop", "domains": ["math"], "choice_domains": ["choice"]},
          "code_tests": {"max_tests": 0}}
# A batch is one worker's task. Programs are graded a few at a time so that every core runs
# sandboxes: in the filter's batches of 256 one worker graded a whole benchmark (bench/README.md,
# "Evaluation: code tests"); answers, cheap to grade, keep the big batches.
BATCH_ROWS = {"code": 4}


def grade_and_score(samples_dir: Path, graded_dir: Path, verify_timeout: float = 5.0, kind: str = "answer") -> dict:
    """Grade a generate run with the graders alone, then score it (no cons@k for code)."""
    graded_dir.parent.mkdir(parents=True, exist_ok=True)
    config = FilterConfig(filters=json.loads(json.dumps(GRADER)), verify_timeout=verify_timeout,
                          source="the evaluation grader")
    config.batch_rows = BATCH_ROWS.get(kind, config.batch_rows)
    grade(FilterRunConfig(input=str(samples_dir), out=graded_dir, overwrite=True), config)
    samples, verdicts, flaws = graded_samples(graded_dir)
    return {**scores(samples, votes=kind != "code"), "verdicts": dict(verdicts), "flaws": flaws}
