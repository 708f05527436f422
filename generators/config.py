"""Typed configuration of a generation run; the CLI flags are derived from it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from factory import lab
from generators.sampling import R1_MAX_TOKENS, R1_TEMPERATURE, R1_TOP_P


def _h(text: str, **extra) -> dict:
    return {"help": text, **extra}


@dataclass
class GenerateConfig:
    # what to generate
    # The defaults are the miniature lab's: its bundled teacher on its bundled problems.
    problems: str = field(default=str(lab.PROBLEMS), metadata=_h("problems: a .jsonl/.json/.parquet file, a folder of them, or a Hub dataset id (default: the lab's bundled set)"))
    teacher: str = field(default=str(lab.TEACHER), metadata=_h("teacher model: local path or Hub id (the name vLLM loads or the farm serves; default: the lab's bundled teacher)"))
    out: Path = field(default=lab.GENERATE_OUT, metadata=_h("run directory; rerunning the same command resumes it"))
    samples: int = field(default=4, metadata=_h("samples per problem"))
    max_tokens: int = field(default=R1_MAX_TOKENS, metadata=_h("max new tokens per sample"))
    temperature: float = field(default=R1_TEMPERATURE, metadata=_h("sampling temperature (R1: 0.6)"))
    top_p: float = field(default=R1_TOP_P, metadata=_h("nucleus sampling top-p (R1: 0.95)"))
    seed: int = field(default=0, metadata=_h("run seed; each sample's seed derives from (seed, problem id, sample)"))
    limit: int | None = field(default=None, metadata=_h("only the first N problems (trial runs)"))
    # reading problems
    problem_field: str = field(default="problem", metadata=_h("source field holding the problem text"))
    answer_field: str = field(default="answer", metadata=_h("source field holding the reference answer"))
    id_field: str = field(default="id", metadata=_h("source field holding the problem id (else a content hash)"))
    split: str = field(default="train", metadata=_h("split, for a Hub dataset"))
    subset: str | None = field(default=None, metadata=_h("config name, for a Hub dataset"))
    templates: Path | None = field(default=None, metadata=_h("folder of <domain>.txt prompt templates overriding the shipped ones"))
    tokenizer: str | None = field(default=None, metadata=_h("tokenizer (chat template) to render prompts with; default: the teacher's"))
    # in-process engine
    tensor_parallel_size: int = field(default=1, metadata=_h("vLLM tensor parallel size"))
    pipeline_parallel_size: int = field(default=1, metadata=_h("vLLM pipeline parallel size"))
    max_model_len: int | None = field(default=None, metadata=_h("vLLM max_model_len (prompt + completion)"))
    gpu_memory_utilization: float | None = field(default=None, metadata=_h("vLLM memory fraction (on CPU: of the NUMA node's RAM; default 0.3 there, 0.9 on GPU)"))
    max_num_seqs: int | None = field(default=None, metadata=_h("vLLM max sequences per step"))
    dtype: str = field(default="auto", metadata=_h("model dtype"))
    enforce_eager: bool = field(default=False, metadata=_h("disable CUDA graphs / compilation"))
    engine_args: str | None = field(default=None, metadata=_h("extra vLLM engine arguments as a JSON object"))
    max_pending: int = field(default=4096, metadata=_h("requests queued inside the engine at once"))
    # server farm
    endpoints: list[str] = field(default_factory=list, metadata=_h("OpenAI-compatible endpoints (URL,URL…); when given, the farm is used instead of an in-process engine"))
    served_model: str | None = field(default=None, metadata=_h("model name the endpoints serve (default: the teacher, or their only model)"))
    max_in_flight: int = field(default=64, metadata=_h("requests in flight per endpoint"))
    request_timeout: float = field(default=3600.0, metadata=_h("seconds before a request is retried elsewhere"))
    max_attempts: int = field(default=8, metadata=_h("attempts per request across endpoints"))
    dead_grace: float = field(default=300.0, metadata=_h("stop when every endpoint has been down this many seconds"))
    # shards
    shard_rows: int = field(default=10_000, metadata=_h("max rows per shard"))
    shard_mb: int = field(default=256, metadata=_h("max uncompressed text per shard, in MB"))
    flush_seconds: float = field(default=300.0, metadata=_h("write a shard at least this often (bounds what a crash loses)"))

    def __post_init__(self):
        self.out = Path(self.out)
        if self.tokenizer is None and Path(self.teacher).resolve() == lab.TEACHER.resolve():
            self.tokenizer = str(lab.TEACHER_TOKENIZER)  # see factory/lab/train.py, _save
        if self.templates is not None:
            self.templates = Path(self.templates)
        checks = [
            (self.samples >= 1, "--samples must be at least 1"),
            (self.max_tokens >= 1, "--max-tokens must be at least 1"),
            (self.temperature >= 0, "--temperature must be >= 0"),
            (0 < self.top_p <= 1, "--top-p must be in (0, 1]"),
            (self.limit is None or self.limit >= 1, "--limit must be at least 1"),
            (self.shard_rows >= 1 and self.shard_mb >= 1, "--shard-rows and --shard-mb must be positive"),
            (self.flush_seconds > 0, "--flush-seconds must be positive"),
            (self.max_in_flight >= 1 and self.max_attempts >= 1, "--max-in-flight and --max-attempts must be positive"),
            (self.tensor_parallel_size >= 1 and self.pipeline_parallel_size >= 1, "parallel sizes must be positive"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)
        if self.engine_args:
            try:
                extra = json.loads(self.engine_args)
            except json.JSONDecodeError as e:
                raise ValueError(f"--engine-args is not valid JSON: {e}") from None
            if not isinstance(extra, dict):
                raise ValueError("--engine-args must be a JSON object")

    @property
    def engine_extra(self) -> dict:
        return json.loads(self.engine_args) if self.engine_args else {}

    def identity(self) -> dict:
        """What makes two runs' rows comparable. A rerun into the same
        directory must match on all of these, or rows would silently mix."""
        return {"teacher": self.teacher, "temperature": self.temperature, "top_p": self.top_p,
                "max_tokens": self.max_tokens, "seed": self.seed}
