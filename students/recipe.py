"""Student recipes: one YAML per size in students/recipes/, found by file name.

A recipe holds values only:
  model          the base: a Hub id (students/architectures.py) or a local folder; `tiny`
                 names the lab's base, which the verbs resolve (factory/lab)
  chat_template  students/templates/<name>.jinja
  context        config overrides that make a long max_length real (rope_theta, …)
  hardware       gpus_per_node, gpu_memory_gb, strategy (students/accelerate/<strategy>.yaml)
  attention      the attention kernel: auto (flash_attention_3/2 where installed, else
                 flex_attention on a GPU; sdpa on a CPU) or one of ATTENTION by name
  kernels        none, or liger: Liger's RMSNorm/SwiGLU/RoPE kernels (TRL's own fused LM
                 head already computes the loss without materialising the logits)
  sft            fields of TRL's SFTConfig, passed through unchanged

Precision is not a choice: students/sft.py loads the weights in fp32 (the
optimizer's master copy) and `sft.bf16: true` computes in bf16 under autocast.
bf16 weights would lose the updates smaller than bf16's spacing (issue 12).

`load` takes a shipped size (`7b`) or the path of the user's own recipe YAML.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from factory.core.errors import InputError

HERE = Path(__file__).parent
RECIPES = HERE / "recipes"
TEMPLATES = HERE / "templates"
ACCELERATE = HERE / "accelerate"
STRATEGIES = ("ddp", "fsdp", "zero3", "zero3_offload")
ATTENTION = ("auto", "flash_attention_3", "flash_attention_2", "flex_attention", "sdpa", "eager")
KERNELS = ("none", "liger")
CONTEXT_KEYS = ("rope_theta", "max_position_embeddings")


def sizes() -> list[str]:
    return sorted(p.stem for p in RECIPES.glob("*.yaml"))


@dataclass
class Hardware:
    gpus_per_node: int = 8
    gpu_memory_gb: float = 80
    strategy: str = "zero3"

    def __post_init__(self):
        if self.strategy not in STRATEGIES:
            raise ValueError(f"hardware.strategy must be one of {', '.join(STRATEGIES)}, not {self.strategy!r}")
        if self.gpus_per_node < 1:
            raise ValueError("hardware.gpus_per_node must be at least 1")


@dataclass
class Recipe:
    size: str
    model: str
    chat_template: str
    sft: dict
    context: dict = field(default_factory=dict)
    hardware: Hardware = field(default_factory=Hardware)
    attention: str = "auto"
    kernels: str = "none"
    length_buckets: int | None = None   # rows per length-sorted bucket (students/data.py: bucket_by_length)
    path: str = ""
    overrides: list[str] = field(default_factory=list)   # the --set items applied on top of the file

    def __post_init__(self):
        if isinstance(self.hardware, dict):
            self.hardware = Hardware(**self.hardware)
        if not (TEMPLATES / f"{self.chat_template}.jinja").is_file():
            have = ", ".join(sorted(p.stem for p in TEMPLATES.glob("*.jinja")))
            raise ValueError(f"chat_template {self.chat_template!r} not in students/templates ({have})")
        unknown = set(self.context or {}) - set(CONTEXT_KEYS)
        if unknown:
            raise ValueError(f"context: unknown key(s) {', '.join(sorted(unknown))} (known: {', '.join(CONTEXT_KEYS)})")
        if self.attention not in ATTENTION:
            raise ValueError(f"attention must be one of {', '.join(ATTENTION)}, not {self.attention!r}")
        if self.kernels not in KERNELS:
            raise ValueError(f"kernels must be one of {', '.join(KERNELS)}, not {self.kernels!r}")
        if self.sft.get("use_liger_kernel"):
            raise ValueError("sft.use_liger_kernel is deprecated by TRL; set `kernels: liger` at the top of the recipe")
        if "model_init_kwargs" in self.sft:
            raise ValueError("sft.model_init_kwargs: the student is loaded by students/sft.py (fp32 weights, the "
                             "recipe's `attention` and `kernels`); set those fields instead")
        if "output_dir" in self.sft:
            raise ValueError("sft.output_dir comes from --out, not the recipe")
        if self.length_buckets is not None and self.sft.get("train_sampling_strategy") != "sequential":
            raise ValueError("length_buckets orders the data itself: set sft.train_sampling_strategy: sequential")

    @property
    def template_text(self) -> str:
        text = (TEMPLATES / f"{self.chat_template}.jinja").read_text()
        # The {#- … -#} header comment documents the file; the template starts after it.
        return text.split("-#}", 1)[1].lstrip("\n") if text.startswith("{#-") else text

    @property
    def accelerate_config(self) -> Path:
        return ACCELERATE / f"{self.hardware.strategy}.yaml"

    def architecture(self, model_path: str | None = None):
        from students.architectures import BASES, from_local_config

        if self.model in BASES:
            return BASES[self.model]
        return from_local_config(model_path or self.model)

    def sft_config(self, output_dir: str, **overrides):
        """TRL's SFTConfig with the recipe's values (validated by TRL itself)."""
        from trl import SFTConfig

        values = {**self.sft, **{k: v for k, v in overrides.items() if v is not None}}
        try:
            return SFTConfig(output_dir=output_dir, **values)
        except (TypeError, ValueError) as e:
            where = self.path + (f" with --set {' '.join(self.overrides)}" if self.overrides else "")
            raise InputError(f"{where}: sft: {e}") from None

    def validate(self) -> None:
        """Check every sft value with TRL, on any machine: a GPU-only setting
        (bf16) is checked for its name and type here, its hardware at launch."""
        import torch

        cpu = {} if torch.cuda.is_available() else {"bf16": False, "use_cpu": True}
        self.sft_config("/tmp/factory-recipe-check", **cpu)


SECTIONS = ("sft", "hardware", "context")


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """`sft.learning_rate=1e-5`, `attention=sdpa`: each value parsed as YAML, set in place."""
    import yaml

    for item in overrides:
        key, eq, text = item.partition("=")
        section, dot, name = key.strip().partition(".")
        if not eq or not section or (dot and not name):
            raise InputError(f"--set {item!r}: expected FIELD=VALUE or SECTION.FIELD=VALUE")
        if dot and section not in SECTIONS:
            raise InputError(f"--set {item!r}: {section!r} has no fields (sections: {', '.join(SECTIONS)})")
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise InputError(f"--set {item!r}: the value is not YAML ({e})") from None
        if isinstance(value, str):  # YAML 1.1 reads 1e-5 (no dot) as text
            try:
                value = float(value)
            except ValueError:
                pass
        if dot:
            data[section] = {**(data.get(section) or {}), name: value}
        else:
            data[section] = value
    return data


def load(size: str, overrides: list[str] | None = None) -> Recipe:
    """A shipped recipe by size (`7b`), or the user's own recipe by path (`my/7b-16k.yaml`),
    with `--set` overrides applied (students/recipe.py, apply_overrides)."""
    import yaml

    own = Path(size)
    if size.endswith((".yaml", ".yml")) or own.is_file():
        if not own.is_file():
            raise InputError(f"--size {size}: no such recipe file")
        path, size = own, own.stem
    else:
        path = RECIPES / f"{size}.yaml"
    if not path.is_file():
        raise InputError(f"unknown size {size!r}; valid sizes: {', '.join(sizes())} (or the path of a recipe YAML)")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise InputError(f"{path}: invalid YAML ({e})") from None
    data = apply_overrides(dict(data), overrides or [])
    where = f"{path}" + (f" with --set {' '.join(overrides)}" if overrides else "")
    try:
        return Recipe(size=size, path=str(path), overrides=list(overrides or []), **data)
    except (TypeError, ValueError) as e:
        raise InputError(f"{where}: {e}") from None
