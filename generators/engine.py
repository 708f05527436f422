"""In-process vLLM teacher: one engine, its scheduler kept full, results streamed.

`LLM.generate` returns only when every prompt is done, so a crash would lose
the whole batch. This backend drives the same engine (`LLM.llm_engine`)
request by request: it keeps up to `max_pending` requests queued inside the
engine (far more than the scheduler runs at once, so it never starves) and
yields each completion the moment it finishes, for the run loop to write.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

from generators.sampling import Completion, Request, SamplingSpec

# Request ids stay unique across calls on a shared engine.
_REQUEST_IDS = itertools.count()


@dataclass
class EngineOptions:
    tensor_parallel_size: int = 1
    pipeline_parallel_size: int = 1
    max_model_len: int | None = None
    gpu_memory_utilization: float | None = None
    dtype: str = "auto"
    max_num_seqs: int | None = None
    enforce_eager: bool = False
    trust_remote_code: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

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


def default_gpu_memory_utilization() -> float:
    """On the CPU build the fraction is of the NUMA node's RAM, not of a GPU."""
    try:
        import torch

        return 0.9 if torch.cuda.is_available() else 0.3
    except ImportError:
        return 0.3


class EngineBackend:
    """Teacher served by an in-process `vllm.LLM`."""

    name = "engine"

    def __init__(self, model: str, options: EngineOptions | None = None, *, tokenizer: str | None = None,
                 max_pending: int = 4096, llm=None):
        self.model = model
        self.options = options or EngineOptions()
        self.max_pending = max_pending
        if llm is None:
            from vllm import LLM

            kw = self.options.llm_kwargs()
            kw.setdefault("gpu_memory_utilization", default_gpu_memory_utilization())
            if tokenizer:
                kw["tokenizer"] = tokenizer
            llm = LLM(model=model, **kw)
        self.llm = llm

    def close(self) -> None:
        """Stop the engine's worker processes now rather than at interpreter exit."""
        core = getattr(self.llm.llm_engine, "engine_core", None)
        if core is not None:
            core.shutdown()

    def describe(self) -> dict:
        return {"backend": self.name, "model": self.model, **self.options.llm_kwargs()}

    def generate(self, requests: Iterable[Request], spec: SamplingSpec) -> Iterator[Completion]:
        from vllm import SamplingParams
        from vllm.sampling_params import RequestOutputKind

        engine = self.llm.llm_engine
        inflight: dict[str, Request] = {}
        it = iter(requests)
        exhausted = False
        try:
            while True:
                while not exhausted and len(inflight) < self.max_pending:
                    req = next(it, None)
                    if req is None:
                        exhausted = True
                        break
                    params = SamplingParams(temperature=spec.temperature, top_p=spec.top_p,
                                            max_tokens=spec.max_tokens, seed=req.seed)
                    params.output_kind = RequestOutputKind.FINAL_ONLY
                    rid = f"factory-{next(_REQUEST_IDS)}"
                    engine.add_request(rid, {"prompt_token_ids": req.prompt_token_ids}, params)
                    inflight[rid] = req
                if not inflight:
                    return
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
