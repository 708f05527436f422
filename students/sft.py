"""SFT of a student on accepted traces: TRL's SFTTrainer, configured by a recipe.

No trainer subclass: the work is in what goes in.
- Data: prompt-completion conversations (students/data.py). TRL renders them
  with the chat template and computes the loss on the completion only
  (`completion_only_loss`, its default for this format); with packing the
  labels are packed with the tokens and the first token of every packed
  sequence is masked too (tests/test_students.py inspects a real batch).
- Template: students/templates/<name>.jinja keeps the think block and ends
  the assistant turn with the token set as EOS, so the trained base stops.
- Context: the recipe's rope_theta / max_position_embeddings are written into
  the model config before loading, so a 32k max_length is real for the
  4k-context Qwen2.5-Math bases (as open-r1 did).
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from factory.core import layout, logs, outdir
from factory.core.errors import InputError
from factory.core.progress import Progress
from students import mixture
from students.data import bucket_by_length, load_rows, to_conversations
from students.recipe import Recipe
from students.runtime import apply_kernels, resolve_attention


DATA = "data"   # OUT/data: the mixture a student trains on, when --data is a mixture file


@dataclass
class TrainResult:
    model_dir: Path
    steps: int
    losses: list[float]
    rows: int
    used: int
    train_loss: float = float("nan")   # the mean over the run (logged even with fewer steps than logging_steps)


def load_tokenizer(recipe: Recipe, model_path: str, *, local_files_only: bool = False):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_path, local_files_only=local_files_only)
    tok.chat_template = recipe.template_text
    eos = recipe.architecture(model_path).eos_token
    if tok.convert_tokens_to_ids(eos) in (None, tok.unk_token_id):
        raise InputError(f"{recipe.path}: the end-of-turn token {eos!r} is not in {model_path}'s vocabulary")
    tok.eos_token = eos
    if tok.pad_token is None:
        tok.pad_token = eos
    return tok


def load_config(recipe: Recipe, model_path: str):
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(model_path)
    if "rope_theta" in recipe.context:
        rope = getattr(config, "rope_parameters", None)
        if isinstance(rope, dict):
            rope["rope_theta"] = float(recipe.context["rope_theta"])
        if hasattr(config, "rope_theta"):
            config.rope_theta = float(recipe.context["rope_theta"])
    if "max_position_embeddings" in recipe.context:
        config.max_position_embeddings = int(recipe.context["max_position_embeddings"])
    return config


def on_gpu(args) -> bool:
    import torch

    return torch.cuda.is_available() and not args.use_cpu


def load_student(recipe: Recipe, model_path: str, args, *, config=None):
    """The student in fp32 (the optimizer's master weights; `args.bf16` computes in bf16
    under autocast, DeepSpeed keeps its own fp32 master), with the recipe's attention and
    kernels. `config` builds it from a config with random weights (bench/sft.py)."""
    import torch
    from transformers import AutoModelForCausalLM

    try:
        attention, why = resolve_attention(recipe.attention, on_gpu(args))
    except RuntimeError as e:
        raise InputError(f"{recipe.path}: {e}") from None
    if config is not None:
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32, attn_implementation=attention)
    else:
        model = AutoModelForCausalLM.from_pretrained(model_path, config=load_config(recipe, model_path),
                                                     dtype=torch.float32, attn_implementation=attention)
    kernels = apply_kernels(recipe, model)
    if args.process_index == 0:
        print(f"student: attention {attention} ({why}); kernels {kernels}; fp32 weights and AdamW states, "
              + ("bf16 compute (autocast)" if args.bf16 else "fp32 compute"))
    return model


def build_trainer(recipe: Recipe, train_dataset, out: Path, *, max_steps: int | None = None,
                  report_to: str | None = None, push_to_hub: str | None = None, model_path: str | None = None,
                  model_config=None, **overrides):
    from trl import SFTTrainer

    model_path = model_path or recipe.model
    tokenizer = load_tokenizer(recipe, model_path)
    extra = dict(overrides)
    if max_steps is not None:
        extra["max_steps"] = max_steps
    if report_to is not None:
        extra["report_to"] = report_to
    if push_to_hub:
        extra.update(push_to_hub=True, hub_model_id=push_to_hub)
    args = recipe.sft_config(str(out / "checkpoints"), **extra)
    bucketed = bool(recipe.length_buckets) and args.train_sampling_strategy == "sequential" and not args.packing
    if bucketed:
        train_dataset = bucket_by_length(train_dataset, args.per_device_train_batch_size * args.world_size,
                                         recipe.length_buckets, seed=args.seed)
    model = load_student(recipe, model_path, args, config=model_config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    if bucketed:
        return _even_token_trainer(SFTTrainer)(model=model, args=args, train_dataset=train_dataset,
                                               processing_class=tokenizer)
    return SFTTrainer(model=model, args=args, train_dataset=train_dataset, processing_class=tokenizer)


def _even_token_trainer(base):
    """`base` (SFTTrainer) whose loss gives every trained token the same weight in every step.

    The usual loss is a mean over the step's trained tokens. Under length buckets a step holds
    traces of one length, so a token of a step of long traces (a loop run to the context) counts
    several times less than one of a step of short traces, and what only long traces teach (to
    start looping) is learnt several times too weakly (measured on the lab teacher with its own
    loop: bench/README.md, "The lab teacher"). Here the sum is divided by the expected count instead:
    the dataset's mean trained tokens per row times the step's rows."""
    import torch

    class EvenTokenTrainer(base):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            ds, names = self.train_dataset, self.train_dataset.column_names
            if "labels" in names:  # the trained tokens: labels not masked out (-100)
                counts = [sum(1 for t in row if t != -100) for row in ds["labels"]]
            elif "completion_mask" in names:
                counts = [sum(m) for m in ds["completion_mask"]]
            else:
                counts = [len(ids) for ids in ds["input_ids"]]
            limit = self.args.max_length or max(counts)
            self.tokens_per_row = sum(min(c, limit) for c in counts) / max(1, len(counts))

        def _get_num_items_in_batch(self, batch_samples, device):
            counted = super()._get_num_items_in_batch(batch_samples, device)
            if counted is None:
                return None
            rows = sum(int(b["labels"].shape[0]) for b in batch_samples)
            if self.args.average_tokens_across_devices and self.args.world_size > 1:
                rows *= self.args.world_size
            return torch.tensor(self.tokens_per_row * rows, dtype=torch.float32, device=device)

    return EvenTokenTrainer


def progress_callback():
    """The factory's progress line for a training run (steps/s, tokens/s, ETA, last loss),
    which replaces the trainer's bar and per-log dicts when the run is quiet (factory/core/logs.py)."""
    from transformers import TrainerCallback

    class ProgressLine(TrainerCallback):
        progress: Progress | None = None

        def on_train_begin(self, args, state, control, **kwargs):
            if state.is_world_process_zero:
                self.progress = Progress(state.max_steps, unit="steps", initial=state.global_step)

        def on_step_end(self, args, state, control, **kwargs):
            if self.progress is not None:
                self.progress.update(state.global_step - self.progress.done)

        def on_log(self, args, state, control, logs=None, **kwargs):
            if self.progress is not None and logs:
                if "num_tokens" in logs:
                    self.progress.tokens = float(logs["num_tokens"])
                if "loss" in logs:
                    self.progress.note = f"loss {float(logs['loss']):.4f}"

        def on_train_end(self, args, state, control, **kwargs):
            if self.progress is not None:
                self.progress.close()

    return ProgressLine()


def train(recipe: Recipe, data: str, out: Path, **options) -> TrainResult:
    """SFT of `recipe` on `data` into `out` (options: `_train`'s). `out` is held like every verb's output
    (factory/core/outdir.py: apart from the data, locked, a new or empty folder or one this verb made);
    a rank started by a launcher runs inside the launcher's hold (factory.train_student holds it)."""
    if "LOCAL_RANK" in os.environ:
        return _train(recipe, data, Path(out), rows=training_rows(data, Path(out), held=False), **options)
    with hold(out, data) as rows:
        return _train(recipe, data, Path(out), rows=rows, **options)


@contextlib.contextmanager
def hold(out: Path, data: str):
    """A student's output folder held for its training (factory/core/outdir.py): apart from `data`,
    locked, new or empty or made by this verb, and marked. Yields the rows to train on
    (`training_rows`: for a mixture file, the mixture built in OUT/data)."""
    with outdir.claim(out, "train_student", inputs={"--data": data}) as claim:
        claim.check()
        claim.make()
        yield training_rows(data, Path(out))


def training_rows(data: str, out: Path, *, held: bool = True) -> str:
    """`data` itself, or for a mixture file (students/mixture.py) the train split of the mixture built
    in OUT/data: reused when built there from the same file and sources, refused when OUT/data holds
    another (its checkpoints were trained on that one). A rank (`held=False`) builds nothing: it reads
    the mixture its launcher built."""
    if not mixture.is_mixture_file(data):
        return data
    mix, folder = mixture.load(data, check_sources=False), out / DATA
    if not held:
        if not mixture.is_built(mix, folder):
            raise InputError(f"{folder}: does not hold the mixture {data}; start training through "
                             "python -m factory.train_student, which builds it")
    else:
        result = mixture.build(mix, folder)
        print(f"mixture {folder}: {', '.join(f'{n:,} {s}' for s, n in result.rows.items())} rows from "
              f"{len(result.sources)} sources ({'reused' if result.reused else 'built'}; {result.duplicates:,} "
              "cross-source duplicates left out)")
    return str(folder / layout.TRAIN)


def _train(recipe: Recipe, data: str, out: Path, *, rows: str | None = None, max_steps: int | None = None,
           resume: bool = True, report_to: str | None = None, push_to_hub: str | None = None,
           unfinished: bool = False) -> TrainResult:
    """The training itself, on `rows` (default `data`: see `training_rows`); `unfinished`: also train on
    rows cut before a response (students/data.py)."""
    from transformers.trainer_utils import get_last_checkpoint

    rows = rows or data
    conversations, report = to_conversations(load_rows(rows), rows, unfinished=unfinished)
    if report.unfinished:
        print(f"note: {report.unfinished} of {report.rows} rows were cut before a response and are trained on "
              "as written (--keep-unfinished)")
    if report.dropped_no_reasoning:
        print(f"note: {report.dropped_no_reasoning} of {report.rows} rows have no reasoning or no response "
              "and are not trained on")
    out.mkdir(parents=True, exist_ok=True)
    with logs.captured():  # model load and dataset tokenisation bars; the training bar stays on screen
        trainer = build_trainer(recipe, conversations, out, max_steps=max_steps, report_to=report_to,
                                push_to_hub=push_to_hub)
    if logs.log_file() is not None:
        from transformers.trainer_callback import PrinterCallback, ProgressCallback

        trainer.remove_callback(ProgressCallback)
        trainer.remove_callback(PrinterCallback)
        trainer.add_callback(progress_callback())
    checkpoint_dir = out / "checkpoints"
    last = get_last_checkpoint(str(checkpoint_dir)) if resume and checkpoint_dir.is_dir() else None
    model_dir = out / "model"
    if _finished(last, trainer.args.max_steps, model_dir):
        # Resuming at max_steps, the trainer would take one more step each rerun (seen: 200 → 201 → 202)
        # and the saved model would change under its evaluations: nothing is left to train.
        print(f"already trained: {last} is at max_steps {trainer.args.max_steps}; model in {model_dir}")
        trainer.state = trainer.state.load_from_json(str(Path(last) / "trainer_state.json"))
    else:
        if last:
            print(f"resuming from {last}")
        trainer.train(resume_from_checkpoint=last)
        _save(trainer, recipe, data, report, model_dir)
    if push_to_hub:
        trainer.push_to_hub()
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    mean = next((h["train_loss"] for h in reversed(trainer.state.log_history) if "train_loss" in h), float("nan"))
    return TrainResult(model_dir, trainer.state.global_step, losses, report.rows, report.used, mean)


def _finished(last: str | None, max_steps: int, model_dir: Path) -> bool:
    """Whether the latest checkpoint `last` has reached `max_steps` and `model_dir` holds the model saved
    at that step (factory_student.json says so): then a rerun leaves the model byte for byte as it is."""
    if not last or max_steps <= 0:
        return False
    try:
        step = json.loads((Path(last) / "trainer_state.json").read_text())["global_step"]
        saved = json.loads((model_dir / "factory_student.json").read_text()).get("steps")
    except (OSError, ValueError, KeyError):
        return False
    return step >= max_steps and saved == step and (model_dir / "config.json").is_file()


def _save(trainer, recipe: Recipe, data: str, report, model_dir: Path) -> None:
    """The trained model in `model_dir`: weights, config (with the context change), tokenizer + template,
    and factory_student.json."""
    record = model_dir / "factory_student.json"
    step = trainer.state.global_step
    trainer.save_model(str(model_dir))
    trainer.processing_class.save_pretrained(str(model_dir))
    if trainer.is_world_process_zero():
        record.write_text(json.dumps(
            {"size": recipe.size, "base": recipe.model, "recipe": recipe.path, "overrides": recipe.overrides,
             "data": data, "rows": report.rows, "trained_rows": report.used, "unfinished_rows": report.unfinished,
             "steps": step, "attention": trainer.model.config._attn_implementation, "kernels": recipe.kernels},
            indent=2))


def token_stats(recipe: Recipe, data: str) -> dict:
    """Sequences, tokens, and how many exceed max_length (for --dry-run).

    Uses the base's tokenizer when it is available locally; otherwise counts
    are estimated at 3.6 characters per token and say so.
    """
    conversations, report = to_conversations(load_rows(data), data)
    max_length = int(recipe.sft.get("max_length", 1024))
    tokenizer = None
    try:
        tokenizer = load_tokenizer(recipe, recipe.model, local_files_only=True)  # dry runs stay offline
    except Exception:
        tokenizer = None
    lengths = []
    for ex in conversations:
        if tokenizer is not None:
            # return_dict: one shape in every transformers version (5.x returns a BatchEncoding
            # by default, whose len() is its 2 keys, not the tokens).
            encoded = tokenizer.apply_chat_template(ex["prompt"] + ex["completion"], tokenize=True, return_dict=True)
            lengths.append(len(encoded["input_ids"]))
        else:
            chars = sum(len(m["content"]) for m in ex["prompt"] + ex["completion"])
            lengths.append(int(chars / 3.6) + 8)
    over = [n for n in lengths if n > max_length]
    packing = bool(recipe.sft.get("packing"))
    return {"rows": report.rows, "sequences": len(lengths), "dropped_no_reasoning": report.dropped_no_reasoning,
            "tokens": sum(lengths), "max_tokens": max(lengths), "mean_tokens": sum(lengths) / len(lengths),
            "over_max_length": len(over), "tokens_cut": sum(n - max_length for n in over),
            "counted_with": "the base tokenizer" if tokenizer is not None else "an estimate (3.6 chars/token; "
                            "the base tokenizer is not available offline)",
            "overflow": ("kept up to max_length, the rest of the trace is not trained (packing, bfd)" if packing
                         else "truncated to max_length; a sequence with no completion token left is dropped")}
