"""Score a teacher or a student the way the R1 paper does: pass@1 over k samples, and cons@k.

usage:
  python -m factory.evaluate --model runs/student-7b/model --benchmarks math500,aime24 \\
      --samples 4 --k aime24=64 --out runs/eval-student-7b
  python -m factory.evaluate --model deepseek-ai/DeepSeek-R1 --benchmarks math500 \\
      --endpoints http://node1:8000,http://node2:8000 --out runs/eval-r1
  python -m factory.evaluate --compare runs/eval-r1/results.json runs/eval-student-7b/results.json

With no arguments it scores the lab's tiny student (runs/lab/student-tiny) on the
lab's held-out problems. Benchmarks: shipped names (math500, aime24, amc23,
minerva_math, olympiadbench, gsm8k_test, lab), .jsonl/.parquet paths, or Hub dataset ids, comma-separated. Protocol by
default: the generation prompt (zero-shot, <think>), temperature 0.6, top-p 0.95, up to
32,768 new tokens, k samples per problem. Samples are generate runs under OUT/samples/,
so an interrupted evaluation resumes; grades are under OUT/graded/; scores go to
OUT/results.json and OUT/results.md.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from factory import lab
from factory.core.cli import parse_config, run_cli
from generators.sampling import R1_MAX_TOKENS, R1_TEMPERATURE, R1_TOP_P

def _h(text: str) -> dict:
    return {"help": text}


@dataclass
class EvaluateConfig:
    model: str = field(default=str(lab.DEFAULT_STUDENT_MODEL), metadata=_h("model to score: local path or Hub id (the farm's served name; default: the lab's tiny student)"))
    out: Path | None = field(default=None, metadata=_h("output folder: samples/, graded/, results.json, results.md (required unless the model is the default)"))
    benchmarks: list[str] = field(default_factory=lambda: ["lab"],
                                  metadata=_h("shipped names, file paths or Hub ids (default: lab, the lab's held-out problems)"))
    samples: int = field(default=4, metadata=_h("k: samples per problem (the paper used 4-64)"))
    k: list[str] = field(default_factory=list, metadata=_h("per-benchmark k, e.g. aime24=64,math500=4"))
    max_tokens: int = field(default=R1_MAX_TOKENS, metadata=_h("max new tokens per sample"))
    temperature: float = field(default=R1_TEMPERATURE, metadata=_h("sampling temperature"))
    top_p: float = field(default=R1_TOP_P, metadata=_h("nucleus sampling top-p"))
    seed: int = field(default=0, metadata=_h("run seed"))
    limit: int | None = field(default=None, metadata=_h("only the first N problems of each benchmark (trial runs)"))
    problem_field: str = field(default="problem", metadata=_h("problem field, for non-shipped benchmarks"))
    answer_field: str = field(default="answer", metadata=_h("reference answer field"))
    id_field: str = field(default="id", metadata=_h("problem id field"))
    tokenizer: str | None = field(default=None, metadata=_h("tokenizer to render prompts with (default: the model's)"))
    templates: Path | None = field(default=None, metadata=_h("prompt templates folder (default: the shipped ones)"))
    tensor_parallel_size: int = field(default=1, metadata=_h("vLLM tensor parallel size"))
    max_model_len: int | None = field(default=None, metadata=_h("vLLM max_model_len"))
    gpu_memory_utilization: float | None = field(default=None, metadata=_h("vLLM memory fraction"))
    max_num_seqs: int | None = field(default=None, metadata=_h("vLLM max sequences per step"))
    enforce_eager: bool = field(default=False, metadata=_h("disable CUDA graphs / compilation"))
    endpoints: list[str] = field(default_factory=list, metadata=_h("OpenAI-compatible endpoints instead of an in-process engine"))
    served_model: str | None = field(default=None, metadata=_h("model name the endpoints serve"))
    verify_timeout: float = field(default=5.0, metadata=_h("seconds one math-verify call may take"))
    compare: list[str] = field(default_factory=list, metadata={
        "help": "print these results.json files side by side, and exit", "nargs": "+"})

    def __post_init__(self):
        if self.compare:
            return
        if self.out is None and self.model == str(lab.DEFAULT_STUDENT_MODEL):
            self.out = lab.EVAL_OUT
        if not self.model or self.out is None:
            raise ValueError("--out is required with --model (or --compare RESULTS.json,…)")
        self.out = Path(self.out)
        if self.samples < 1:
            raise ValueError("--samples must be at least 1")
        for item in self.k:
            name, _, value = item.partition("=")
            if not value.isdigit() or int(value) < 1:
                raise ValueError(f"--k {item!r}: expected BENCHMARK=K with K >= 1")

    def k_for(self, name: str) -> int:
        overrides = dict(item.split("=", 1) for item in self.k)
        return int(overrides.get(name, self.samples))


def main(argv: list[str] | None = None) -> int:
    def go() -> int:
        config = parse_config(EvaluateConfig, argv, prog="python -m factory.evaluate", doc=__doc__)
        from factory.evaluation import load_results, markdown

        if config.compare:
            print(markdown(load_results(config.compare)))
            return 0
        results = evaluate(config)
        print(markdown([results]))
        print(f"\nwrote {config.out / 'results.json'} and {config.out / 'results.md'}")
        return 0

    return run_cli(go)


def evaluate(config: EvaluateConfig, backend=None) -> dict:
    from factory.evaluation import grade_and_score, markdown, resolve_benchmark
    from factory.core.manifest import package_versions
    from factory.core.shards import atomic_write_bytes, atomic_write_json
    from generators.config import GenerateConfig
    from generators.run import main as generate
    from generators.run import make_backend

    benches = [resolve_benchmark(b) for b in config.benchmarks]  # unknown names fail before any work
    runs = {name: GenerateConfig(
        problems=source, teacher=config.model, out=config.out / "samples" / name, samples=config.k_for(name),
        max_tokens=config.max_tokens, temperature=config.temperature, top_p=config.top_p, seed=config.seed,
        limit=config.limit, problem_field=config.problem_field, answer_field=config.answer_field,
        id_field=config.id_field, tokenizer=config.tokenizer, templates=config.templates,
        tensor_parallel_size=config.tensor_parallel_size, max_model_len=config.max_model_len,
        gpu_memory_utilization=config.gpu_memory_utilization, max_num_seqs=config.max_num_seqs,
        enforce_eager=config.enforce_eager, endpoints=config.endpoints, served_model=config.served_model)
        for name, source in benches}
    config.out.mkdir(parents=True, exist_ok=True)
    owned = backend is None
    results = {"model": config.model, "protocol": {"temperature": config.temperature, "top_p": config.top_p,
                                                   "max_tokens": config.max_tokens, "seed": config.seed,
                                                   "prompt": "zero-shot, <think>-forced (generators/templates)"},
               "benchmarks": {}, "versions": package_versions()}
    try:
        for name, source in benches:
            gen = runs[name]
            if backend is None:
                backend = make_backend(gen)
            print(f"== {name}: {config.k_for(name)} samples per problem")
            summary = generate(gen, backend=backend)
            scored = grade_and_score(gen.out, config.out / "graded" / name, config.verify_timeout)
            results["benchmarks"][name] = {**scored, "k": config.k_for(name), "source": source,
                                           "finish_reasons": summary.finish_reasons}
    finally:
        if owned and backend is not None:
            backend.close()
    atomic_write_json(config.out / "results.json", results)
    atomic_write_bytes(config.out / "results.md", (markdown([results]) + "\n").encode())
    return results


if __name__ == "__main__":
    sys.exit(main())
