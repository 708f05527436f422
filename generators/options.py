"""Option groups of every verb that runs a teacher, each declared once.

`GenerateConfig` and `EvaluateConfig` are compositions of these groups (dataclass
inheritance, keyword-only), so a flag added here reaches both verbs, their
`--help`, and the generate runs evaluate starts (`project` copies a group from
one config into another). Each group checks its own fields in `check`; the
rules between groups (which backend, and whose flags it takes) are
`generators/backend.py`'s `TeacherOptions`. Each teacher backend names the
groups it reads (`option_groups`).
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from generators.sampling import R1_MAX_TOKENS, R1_TEMPERATURE, R1_TOP_P

T = TypeVar("T")


def _h(text: str, **extra) -> dict:
    return {"help": text, **extra}


class Options:
    """Runs every group's `check` (base groups first); a ValueError is a bad flag (exit 2)."""

    def __post_init__(self):
        for cls in reversed(type(self).__mro__):
            check = cls.__dict__.get("check")
            if check is not None:
                check(self)


def project(source: Any, target: type[T], **overrides) -> T:
    """A `target` built from the same-named fields of `source` (a composed config), plus overrides."""
    values = {f.name: getattr(source, f.name) for f in dataclasses.fields(target)
              if f.init and hasattr(source, f.name)}
    return target(**{**values, **overrides})


@dataclass(kw_only=True)
class SamplingOptions(Options):
    samples: int = field(default=4, metadata=_h("samples per problem (k)"))
    max_tokens: int = field(default=R1_MAX_TOKENS, metadata=_h("max new tokens per sample"))
    temperature: float = field(default=R1_TEMPERATURE, metadata=_h("sampling temperature (R1: 0.6)"))
    top_p: float = field(default=R1_TOP_P, metadata=_h("nucleus sampling top-p (R1: 0.95)"))
    seed: int = field(default=0, metadata=_h("run seed; each sample's seed derives from (seed, problem id, sample)"))
    limit: int | None = field(default=None, metadata=_h("only the first N problems (of each benchmark; trial runs)"))

    def check(self):
        # inf and nan pass argparse's float(); nan fails every comparison, inf passes `>= 0`.
        _require([(self.samples >= 1, "--samples must be at least 1"),
                  (self.max_tokens >= 1, "--max-tokens must be at least 1"),
                  (math.isfinite(self.temperature) and self.temperature >= 0,
                   f"--temperature must be a finite number >= 0, not {self.temperature}"),
                  (0 < self.top_p <= 1, f"--top-p must be in (0, 1], not {self.top_p}"),
                  (self.limit is None or self.limit >= 1, "--limit must be at least 1")])


@dataclass(kw_only=True)
class ProblemOptions(Options):
    """How problems are read and turned into prompts."""

    problem_field: str = field(default="problem", metadata=_h("source field holding the problem text"))
    answer_field: str = field(default="answer", metadata=_h("source field holding the reference answer"))
    id_field: str = field(default="id", metadata=_h("source field holding the problem id (else a content hash)"))
    split: str = field(default="train", metadata=_h("split, for a Hub dataset"))
    subset: str | None = field(default=None, metadata=_h("config name, for a Hub dataset"))
    templates: Path | None = field(default=None, metadata=_h("folder of <domain>.txt prompt templates overriding the shipped ones"))
    tokenizer: str | None = field(default=None, metadata=_h("tokenizer (chat template) to render prompts with; default: the model's"))

    def check(self):
        if self.templates is not None:
            self.templates = Path(self.templates)


@dataclass(kw_only=True)
class EngineOptions(Options):
    """The in-process vLLM engine (generators/engine.py)."""

    tensor_parallel_size: int = field(default=1, metadata=_h("vLLM tensor parallel size"))
    pipeline_parallel_size: int = field(default=1, metadata=_h("vLLM pipeline parallel size"))
    max_model_len: int | None = field(default=None, metadata=_h("vLLM max_model_len (prompt + completion)"))
    gpu_memory_utilization: float | None = field(default=None, metadata=_h("vLLM memory fraction (on CPU: of the NUMA node's RAM; default 0.3 there, 0.9 on GPU)"))
    max_num_seqs: int | None = field(default=None, metadata=_h("vLLM max sequences per step"))
    dtype: str = field(default="auto", metadata=_h("model dtype"))
    enforce_eager: bool | None = field(default=None, metadata=_h(
        "disable CUDA graphs / torch.compile (default: eager on a CPU, where compiling costs more start-up "
        "than it saves on all but long runs; compiled on a GPU)"))
    trust_remote_code: bool = field(default=False, metadata=_h("let vLLM run the model repository's own code"))
    engine_args: str | None = field(default=None, metadata=_h(
        "extra vLLM engine arguments: a JSON object, or a .json file holding one (--tune writes OUT/engine-args.json)"))
    max_pending: int = field(default=4096, metadata=_h("requests queued inside the engine at once"))

    def check(self):
        _require([(self.tensor_parallel_size >= 1, f"--tensor-parallel-size must be at least 1, not {self.tensor_parallel_size}"),
                  (self.pipeline_parallel_size >= 1,
                   f"--pipeline-parallel-size must be at least 1, not {self.pipeline_parallel_size}"),
                  (self.max_pending >= 1, "--max-pending must be at least 1")])
        path = None   # the file --engine-args named, if it named one
        if self.engine_args and not self.engine_args.lstrip().startswith("{"):
            path = Path(self.engine_args)
            if not path.is_file():
                raise ValueError(f"--engine-args {self.engine_args}: neither a JSON object nor a file")
            try:
                self.engine_args = path.read_text(encoding="utf-8")   # its content is what the run records
            except (UnicodeDecodeError, OSError) as e:
                raise ValueError(f"--engine-args {path}: cannot be read ({e})") from None
        if self.engine_args:
            try:
                extra = json.loads(self.engine_args)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{e.lineno}: not valid JSON ({e.msg})" if path
                                 else f"--engine-args is not valid JSON: {e}") from None
            if not isinstance(extra, dict):
                raise ValueError(f"--engine-args {path or ''}".rstrip() + " must be a JSON object")

    @property
    def extra(self) -> dict[str, Any]:
        return json.loads(self.engine_args) if self.engine_args else {}

    def llm_kwargs(self) -> dict[str, Any]:
        kw: dict[str, Any] = dict(tensor_parallel_size=self.tensor_parallel_size,
                                  pipeline_parallel_size=self.pipeline_parallel_size,
                                  dtype=self.dtype, enforce_eager=self.enforce_eager,
                                  trust_remote_code=self.trust_remote_code)
        for name in ("max_model_len", "gpu_memory_utilization", "max_num_seqs"):
            if getattr(self, name) is not None:
                kw[name] = getattr(self, name)
        kw.update(self.extra)
        return kw


@dataclass(kw_only=True)
class FarmOptions(Options):
    """A farm of OpenAI-compatible servers (generators/farm.py), used with --backend farm."""

    endpoints: list[str] = field(default_factory=list, metadata=_h("OpenAI-compatible endpoints (URL,URL…) of --backend farm; giving them implies it"))
    served_model: str | None = field(default=None, metadata=_h("model name the endpoints serve (default: the model, or their only model)"))
    max_in_flight: int = field(default=64, metadata=_h("requests in flight per endpoint"))
    request_timeout: float = field(default=3600.0, metadata=_h("seconds before a request is retried elsewhere (32k tokens take long on a busy server)"))
    connect_timeout: float = field(default=10.0, metadata=_h("seconds to connect to an endpoint"))
    max_attempts: int = field(default=8, metadata=_h("attempts per request across endpoints"))
    down_after: int = field(default=3, metadata=_h("consecutive failures that bench an endpoint"))
    probe_interval: float = field(default=5.0, metadata=_h("seconds between probes of a benched endpoint"))
    dead_grace: float = field(default=300.0, metadata=_h("stop when every endpoint has been down this many seconds"))
    api_key_env: str = field(default="FACTORY_API_KEY", metadata=_h("environment variable holding the endpoints' API key"))

    def check(self):
        _require([(self.max_in_flight >= 1 and self.max_attempts >= 1,
                   "--max-in-flight and --max-attempts must be positive"),
                  (self.request_timeout > 0 and self.connect_timeout > 0 and self.dead_grace > 0
                   and self.probe_interval > 0, "farm timeouts must be positive"),
                  (self.down_after >= 1, "--down-after must be at least 1")])


@dataclass(kw_only=True)
class RayOptions(Options):
    """Teacher replicas on a Ray cluster (generators/ray_backend.py), used with --backend ray."""

    ray_address: str | None = field(default=None, metadata=_h(
        "Ray cluster to join: `auto` (the one `ray start` made on this node) or ray://HOST:10001; "
        "default: a local Ray instance started for the run"))
    replicas: int = field(default=1, metadata=_h("teacher replicas (each one engine with its own TP x PP)"))
    ray_batch_size: int = field(default=32, metadata=_h(
        "requests per Ray Data batch: the unit a replica takes, and redoes if its node is lost"))
    requests_per_replica: int = field(default=512, metadata=_h(
        "requests one replica's engine holds at once (its batches run together): enough to keep the "
        "engine's scheduler full; also what a lost replica redoes"))
    cpus_per_replica: float | None = field(default=None, metadata=_h(
        "CPUs each replica reserves (default: 1 on a GPU cluster; on a CPU-only one, "
        "the cluster's CPUs shared between the replicas)"))
    gpus_per_replica: float | None = field(default=None, metadata=_h(
        "GPUs each replica reserves (default: TP x PP on a GPU cluster when one node holds "
        "them; 0 when the replica spans nodes: vLLM's Ray executor places its workers)"))

    def check(self):
        _require([(self.replicas >= 1, "--replicas must be at least 1"),
                  (self.ray_batch_size >= 1, "--ray-batch-size must be at least 1"),
                  (self.requests_per_replica >= 1, "--requests-per-replica must be at least 1"),
                  (self.cpus_per_replica is None or self.cpus_per_replica > 0, "--cpus-per-replica must be positive"),
                  (self.gpus_per_replica is None or self.gpus_per_replica >= 0, "--gpus-per-replica must be >= 0")])


@dataclass(kw_only=True)
class PlanOptions(Options):
    """The dry run: the backend's own plan lines (generators/backend.py), nothing started or written."""

    dry_run: bool = field(default=False, metadata=_h("print the resolved plan (backend, replicas, "
                                                      "resources, pending pairs); generate nothing"))


@dataclass(kw_only=True)
class ShardOptions(Options):
    shard_rows: int = field(default=10_000, metadata=_h("max rows per shard"))
    shard_mb: int = field(default=256, metadata=_h("max uncompressed text per shard, in MB"))
    flush_seconds: float = field(default=300.0, metadata=_h("write a shard at least this often (bounds what a crash loses)"))

    def check(self):
        _require([(self.shard_rows >= 1 and self.shard_mb >= 1, "--shard-rows and --shard-mb must be positive"),
                  (self.flush_seconds > 0, "--flush-seconds must be positive")])


def changed_flags(source: Any, group: type) -> list[str]:
    """The flags of `group` whose values in `source` differ from the group's defaults."""
    changed = []
    for f in dataclasses.fields(group):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        if f.init and getattr(source, f.name) != default:
            changed.append(f.metadata.get("flag", "--" + f.name.replace("_", "-")))
    return changed


def _require(checks: list[tuple[bool, str]]) -> None:
    for ok, message in checks:
        if not ok:
            raise ValueError(message)
