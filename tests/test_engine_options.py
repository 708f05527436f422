"""Engine flags reach vLLM as given; CPU-only defaults never override the user."""

from __future__ import annotations

from generators.config import GenerateConfig
from generators.engine import apply_platform_defaults
from generators.options import EngineOptions


def test_parallelism_and_context_pass_through():
    kw = EngineOptions(tensor_parallel_size=8, pipeline_parallel_size=2, max_model_len=40_000,
                       engine_args='{"kv_cache_dtype": "fp8"}').llm_kwargs()
    assert kw["tensor_parallel_size"] == 8 and kw["pipeline_parallel_size"] == 2
    assert kw["max_model_len"] == 40_000 and kw["kv_cache_dtype"] == "fp8"
    assert "gpu_memory_utilization" not in kw  # unset: left to the platform default


def test_cpu_defaults_and_explicit_values_win(monkeypatch):
    monkeypatch.setattr("generators.engine.on_gpu", lambda: False)
    monkeypatch.setattr("generators.engine.cpu_flags", lambda: {"avx2", "avx512f", "avx512_bf16"})
    kw = apply_platform_defaults({"max_model_len": 16_384})
    assert kw.pop("dtype_reason").startswith("auto: the model's own dtype (this CPU has native bf16: avx512_bf16")
    assert kw == {"max_model_len": 16_384, "dtype": "auto", "gpu_memory_utilization": 0.3,
                  "enable_chunked_prefill": False, "max_num_batched_tokens": 16_384,
                  "enforce_eager": True, "distributed_executor_backend": "uni"}
    mine = apply_platform_defaults({"gpu_memory_utilization": 0.5, "enable_chunked_prefill": True,
                                    "dtype": "bfloat16", "enforce_eager": False,
                                    "distributed_executor_backend": "mp"})
    assert mine == {"gpu_memory_utilization": 0.5, "enable_chunked_prefill": True, "dtype": "bfloat16",
                    "dtype_reason": "--dtype bfloat16", "enforce_eager": False, "distributed_executor_backend": "mp"}
    # several CPU workers (tensor parallel) need vLLM's worker processes
    assert "distributed_executor_backend" not in apply_platform_defaults({"tensor_parallel_size": 2})
    monkeypatch.setattr("generators.engine.on_gpu", lambda: True)
    assert apply_platform_defaults({}) == {"gpu_memory_utilization": 0.9, "dtype": "auto", "enforce_eager": False,
                                           "dtype_reason": "auto: the model's own dtype (GPU)"}


def test_one_process_engine_only_when_the_environment_leaves_it_to_us(monkeypatch):
    import os

    from generators.engine import _engine_process

    monkeypatch.delenv("VLLM_ENABLE_V1_MULTIPROCESSING", raising=False)
    with _engine_process({"distributed_executor_backend": "uni"}):
        assert os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] == "0"
    assert "VLLM_ENABLE_V1_MULTIPROCESSING" not in os.environ  # scoped to the engine's start
    with _engine_process({"distributed_executor_backend": "mp"}):
        assert "VLLM_ENABLE_V1_MULTIPROCESSING" not in os.environ
    with _engine_process({}, fallback=True):  # another in-process engine is alive
        assert os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] == "1"
    monkeypatch.setenv("VLLM_ENABLE_V1_MULTIPROCESSING", "1")
    with _engine_process({"distributed_executor_backend": "uni"}):
        assert os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] == "1"  # the user's setting wins


def test_dtype_auto_runs_float32_on_a_cpu_without_native_bf16(monkeypatch):
    from generators.engine import choose_dtype

    assert choose_dtype("auto", False, {"avx2", "fma"}) == (
        "float32", "auto → float32: this CPU has no native bf16 (no avx512_bf16 or amx_bf16)")
    assert choose_dtype("auto", False, {"avx2", "amx_bf16"})[0] == "auto"
    assert choose_dtype("bfloat16", False, {"avx2"}) == ("bfloat16", "--dtype bfloat16")  # the user's choice wins
    monkeypatch.setattr("generators.engine.on_gpu", lambda: False)
    monkeypatch.setattr("generators.engine.cpu_flags", lambda: {"avx2"})
    assert apply_platform_defaults({})["dtype"] == "float32"


def test_config_defaults_are_r1():
    c = GenerateConfig(problems="p.jsonl", teacher="t", out="o")
    assert (c.temperature, c.top_p, c.max_tokens, c.samples) == (0.6, 0.95, 32_768, 4)
    assert GenerateConfig(problems="p", teacher="t", out="o", engine_args='{"a": 1}').extra == {"a": 1}


def test_the_cpu_line_every_benchmark_prints(monkeypatch):
    from factory.core import machine

    line = machine.cpu_line({"avx2", "avx512f", "fpu"})
    assert line.startswith("CPU flags: avx512f=yes avx512_bf16=no amx_bf16=no avx2=yes; ") and line.endswith(" CPUs")
    assert machine.cpu_line(set()).startswith("CPU flags: unknown; ")   # no /proc/cpuinfo
    # Read from this machine: the flags /proc/cpuinfo lists, nothing invented.
    here = machine.cpu_flags()
    assert all((f"{f}=yes" in machine.cpu_line()) == (f in here) for f in machine.REPORTED) or not here
