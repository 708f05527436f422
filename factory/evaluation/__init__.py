"""Evaluation the way the R1 paper reports it: AIME 2024, MATH-500, GPQA Diamond and LiveCodeBench
with pass@1 over k samples and cons@k, the paper's figures beside them.

  benchmarks.py      what a benchmark is (name, kind, source) and the specs that name one
  gpqa.py            GPQA Diamond: options shuffled per sample, simple-evals' prompt
  livecodebench.py   LiveCodeBench: release files, the date window, hidden tests unpacked safely
  scoring.py         the graders (correctness, code tests in the sandbox) and pass@1 / cons@k
  paper.py           the R1 paper's figures (factory/data/r1_paper.yaml) and the comparison
  report.py          results.md
  run.py             EvaluateConfig and evaluate(): sample, grade, score
"""

from factory.evaluation.benchmarks import shipped_benchmarks
from factory.evaluation.report import load_results, markdown
from factory.evaluation.run import EvaluateConfig, evaluate, generate_configs
from factory.evaluation.scoring import Sample, grade_and_score, scores

__all__ = ["EvaluateConfig", "Sample", "evaluate", "generate_configs", "grade_and_score", "load_results",
           "markdown", "scores", "shipped_benchmarks"]
