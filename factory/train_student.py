"""Distil a student: SFT on accepted traces with TRL, one recipe per size.

usage:
  python -m factory.train_student --size 7b --data runs/r1-math-filtered --out runs/student-7b
  python -m factory.train_student --size 70b --data user/r1-traces --out runs/student-70b --dry-run
  python -m factory.train_student --size 7b --data students/mixtures/r1.yaml --out runs/student-7b
  python -m factory.train_student          # the lab's tiny student on runs/lab/filter

Sizes (students/recipes/<size>.yaml): 1.5b Qwen2.5-Math-1.5B, 7b Qwen2.5-Math-7B, 8b
Llama-3.1-8B, 14b Qwen2.5-14B, 32b Qwen2.5-32B, 70b Llama-3.3-70B-Instruct, tiny (built
locally, trains on a CPU), or the path of your own recipe YAML (a copy of one of
those, edited). --dry-run prints the resolved recipe, the GPUs and nodes it
needs with a per-GPU memory estimate, the packages the recipe needs (and which are
missing here), the dataset's token statistics and the `accelerate launch` command,
without training. On a machine with several GPUs the
command relaunches itself through accelerate; --no-launch trains in this process.
Rerunning resumes from the latest checkpoint in OUT/checkpoints. A mixture file as --data
(students/mixture.py) is built into OUT/data first (reused on a rerun); its dry run prints its plan.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from factory import lab
from factory.core.cli import LogOptions, parse_config, quiet, run_cli
from factory.core.errors import InputError
from students import mixture
from students import recipe as recipes
from students.plan import Plan, launch_argv, launch_command, plan
from students.runtime import missing_required, needs
from students.sft import DATA, hold, token_stats, train


@dataclass
class TrainStudentConfig(LogOptions):
    size: str = field(default="tiny", metadata={"help": "student size: 1.5b, 7b, 8b, 14b, 32b, 70b or tiny, or the path of a recipe YAML"})
    data: str = field(default=str(lab.FILTER_OUT), metadata={"help": "accepted traces: a filter output folder, Parquet shards, a Hub dataset id, or a mixture file (.yaml)"})
    out: Path | None = field(default=None, metadata={"help": "output folder: checkpoints/ and the trained model/ (default: runs/lab/student-SIZE)"})
    dry_run: bool = field(default=False, metadata={"help": "print the plan (GPUs, memory, tokens, command); train nothing"})
    max_steps: int | None = field(default=None, metadata={"help": "stop after N optimizer steps"})
    keep_unfinished: bool = field(default=False, metadata={
        "help": "also train on rows cut before their think block closed (no response), as written: "
                "what unfiltered teacher output feeds a student (off: such rows are dropped, counted)"})
    resume: bool = field(default=True, metadata={"help": "resume from the latest checkpoint in OUT/checkpoints"})
    report_to: str | None = field(default=None, metadata={"help": "trainer report_to (wandb, tensorboard, none…)"})
    push_to_hub: str | None = field(default=None, metadata={"help": "push the trained model to this Hub repo id"})
    launch: bool = field(default=True, metadata={"help": "relaunch through accelerate when several GPUs are visible"})
    overrides: list[str] = field(default_factory=list, metadata={
        "flag": "--set", "nargs": "+",
        "help": "override recipe fields, values in YAML: sft.learning_rate=1e-5 hardware.gpus_per_node=4 attention=sdpa"})

    def __post_init__(self):
        self.out = Path(self.out) if self.out is not None else lab.student_out(self.size)
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError("--max-steps must be at least 1")


def _gpus() -> int:
    try:
        import torch

        return torch.cuda.device_count()
    except ImportError:
        return 0


def parse(argv: list[str]) -> TrainStudentConfig:
    return parse_config(TrainStudentConfig, argv, prog="python -m factory.train_student", doc=__doc__)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)

    def go() -> int:
        config = parse(argv)
        recipe = recipes.load(config.size, config.overrides)
        recipe.model = lab.student_model(recipe.model)
        if config.dry_run:
            return dry_run(recipe, config, argv)
        gpus = _gpus()
        if config.launch and gpus > 1 and "LOCAL_RANK" not in os.environ:
            missing = missing_required(recipe)
            if missing:
                raise InputError(f"{recipe.path}: " + "; ".join(f"{n.why} needs {n.package} ({n.hint})"
                                                                 for n in missing))

            one_node = Plan(gpus, 1, 0.0, {}, True)
            print(f"launching on {gpus} GPUs:\n{launch_command(recipe, one_node, argv)}")
            relaunch = launch_argv(recipe, one_node, argv)
            with hold(config.out, config.data):  # the ranks train inside this hold (students/sft.py `train`)
                return subprocess.call([sys.executable, "-m", "accelerate.commands.launch", *relaunch[2:]])
        quiet(config, config.out, "train_student")
        result = train(recipe, config.data, config.out, max_steps=config.max_steps, resume=config.resume,
                       report_to=config.report_to, push_to_hub=config.push_to_hub, unfinished=config.keep_unfinished)
        if len(result.losses) > 1:
            loss = f"loss {result.losses[0]:.3f} → {result.losses[-1]:.3f}"
        else:  # fewer steps than logging_steps: only the run's mean was logged
            loss = f"mean loss {result.train_loss:.3f}"
        print(f"trained {result.steps} steps on {result.used:,} of {result.rows:,} rows; {loss}; "
              f"model in {result.model_dir}")
        return 0

    return run_cli(go)


def dry_run(recipe, config: TrainStudentConfig, argv: list[str]) -> int:
    recipe.validate()
    arch = recipe.architecture()
    p = plan(arch, recipe)
    b = p.breakdown
    print(f"recipe {recipe.path}\n" + yaml.safe_dump({"model": recipe.model, "chat_template": recipe.chat_template,
                                                     "context": recipe.context, "hardware": vars(recipe.hardware),
                                                     "attention": recipe.attention, "kernels": recipe.kernels,
                                                     "sft": recipe.sft}, sort_keys=False))
    print(f"base: {arch.params / 1e9:.2f}B parameters, {arch.layers} layers, hidden {arch.hidden}, "
          f"vocab {arch.vocab}, declared context {arch.max_position_embeddings}"
          + (f" → {recipe.context['max_position_embeddings']} with rope_theta {recipe.context.get('rope_theta')}"
             if recipe.context.get("max_position_embeddings") else ""))
    gb = 1e9
    print(f"\nplan: {p.gpus} GPU(s) on {p.nodes} node(s), {recipe.hardware.strategy}; per GPU ≈ {p.per_gpu_gb:.1f} GB "
          f"of {recipe.hardware.gpu_memory_gb} GB{'' if p.fits else ' — DOES NOT FIT even at the largest plan'}\n"
          f"  model states {b['model_states'] / gb:.1f} GB + gathered layers {b['gathered'] / gb:.1f} GB + "
          f"activations {b['activations'] / gb:.1f} GB + attention mask {b['mask'] / gb:.1f} GB + headroom "
          f"{b['headroom'] / gb:.1f} GB ({b['tokens_per_micro_batch']:,} tokens per micro-batch)\n"
          f"  assumes {p.assumes}; formula and its H100 calibration: students/plan.py")
    print("\npackages the recipe needs on its GPUs (checked on this machine):")
    for n in needs(recipe):
        state = "installed" if n.installed else ("MISSING" if n.required else "not installed (optional)")
        if n.error:
            state = ("BROKEN" if n.required else "broken (optional)") + f" ({n.error})"
        print(f"  {n.package:<22}{n.why:<30}{state}" + ("" if n.installed else f": {n.hint}"))
    if mixture.is_mixture_file(config.data):  # built when training starts; the plan reads no row
        print("\n" + mixture.describe(mixture.plan(mixture.load(config.data, check_sources=False)))
              + f"\n  built into {config.out / DATA} when training starts (reused when it is there)")
        print(f"\nlaunch:\n{launch_command(recipe, p, argv)}")
        return 0
    stats = token_stats(recipe, config.data)
    print(f"\ndata: {stats['sequences']:,} sequences ({stats['dropped_no_reasoning']} rows without reasoning left "
          f"out), {stats['tokens']:,} tokens, mean {stats['mean_tokens']:,.0f}, max {stats['max_tokens']:,}; "
          f"counted with {stats['counted_with']}\n"
          f"  {stats['over_max_length']} exceed max_length {recipe.sft.get('max_length')} "
          f"({stats['tokens_cut']:,} tokens): {stats['overflow']}")
    print(f"\nlaunch:\n{launch_command(recipe, p, argv)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
