"""Typed configuration of a generation run; the CLI flags are derived from it.

The option groups (sampling, problems, shards, and the teacher's: backend, engine,
farm, Ray, dry run) are declared once in generators/options.py and
generators/backend.py, and shared with `factory.evaluate`. No defaults point at the
lab: `factory.generate` supplies those (factory/lab).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from factory.core.cli import LogOptions
from generators.backend import TeacherOptions
from generators.general import GeneralOptions
from generators.options import ProblemOptions, SamplingOptions, ShardOptions
from generators.pilot import PilotOptions
from generators.tune import TuneOptions


@dataclass(kw_only=True)
class GenerateConfig(SamplingOptions, ProblemOptions, GeneralOptions, TeacherOptions, ShardOptions, PilotOptions,
                     TuneOptions, LogOptions):
    problems: str = field(metadata={"help": "problems: a .jsonl/.json/.parquet file (.jsonl.gz, .json.gz too), a folder of them, or a Hub dataset id"})
    teacher: str = field(metadata={"help": "teacher model: local path or Hub id (the name vLLM loads or the farm serves)"})
    out: Path = field(metadata={"help": "run directory; rerunning the same command resumes it"})

    def check(self):
        self.out = Path(self.out)
        if self.tune and self.backend not in (None, "engine"):
            raise ValueError(f"--tune times the in-process engine's settings, not --backend {self.backend}")

    def identity(self) -> dict:
        """What makes two runs' rows comparable. A rerun into the same
        directory must match on all of these, or rows would silently mix."""
        return {"teacher": self.teacher, "temperature": self.temperature, "top_p": self.top_p,
                "max_tokens": self.max_tokens, "seed": self.seed}
