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
Every value is checked by name and type when the recipe is loaded (`check`), before
anything is written: an error names the file and line, or the `--set` item.

Precision is not a choice: students/sft.py loads the weights in fp32 (the
optimizer's master copy) and `sft.bf16: true` computes in bf16 under autocast.
bf16 weights would lose the updates smaller than bf16's spacing (issue 12).

`load` takes a shipped size (`7b`) or the path of the user's own recipe YAML.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from factory.core.errors import InputError
from factory.core.types import check_fields, check_type, did_you_mean, field_types
from factory.core.yamlfile import YamlMapping, load_mapping
from students.architectures import BASES, from_local_config

HERE = Path(__file__).parent
RECIPES = HERE / "recipes"
TEMPLATES = HERE / "templates"
ACCELERATE = HERE / "accelerate"
STRATEGIES = ("ddp", "fsdp", "zero3", "zero3_offload")
ATTENTION = ("auto", "flash_attention_3", "flash_attention_2", "flex_attention", "sdpa", "eager")
KERNELS = ("none", "liger")


def sizes() -> list[str]:
    return sorted(p.stem for p in RECIPES.glob("*.yaml"))


@dataclass
class Context:
    """What a recipe's `context` may set in the base's config (students/sft.py, load_config), by type."""

    rope_theta: float | None = None
    max_position_embeddings: int | None = None


CONTEXT_KEYS = tuple(f.name for f in dataclasses.fields(Context))


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
        """Check every sft value with TRL's SFTConfig itself (names and types were checked at
        load), on any machine: a GPU-only setting (bf16) is checked here for its value, its
        hardware at launch."""
        import torch

        cpu = {} if torch.cuda.is_available() else {"bf16": False, "use_cpu": True}
        self.sft_config("/tmp/factory-recipe-check", **cpu)


SECTIONS = ("sft", "hardware", "context")
NOT_IN_FILE = ("size", "path", "overrides")   # Recipe fields that come from the command line


def apply_overrides(doc: YamlMapping, overrides: list[str]) -> None:
    """`sft.learning_rate=1e-5`, `attention=sdpa`: each value parsed as YAML, set in `doc`,
    which then names the item as where that value came from."""
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
        if dot and doc.data.get(section) is not None and not isinstance(doc.data[section], dict):
            raise InputError(f"{doc.where(section)}: {section}: expected a mapping, got {doc.data[section]!r}")
        doc.override((section, name) if dot else (section,), value, f"--set {item!r}")


def check(doc: YamlMapping) -> None:
    """Every value of a recipe by name and type, before a Recipe is built (so before any folder
    exists): the top-level fields, `hardware.*`, `context.*`, and `sft.*` against the annotations
    of TRL's SFTConfig (imported, never instantiated). InputError naming the file:line of the
    key, or the `--set` item that gave it."""
    fields = {name: t for name, t in field_types(Recipe).items() if name not in NOT_IN_FILE}
    try:
        _known(doc, (), doc.data, fields)
        missing = [f.name for f in dataclasses.fields(Recipe) if f.name in fields and f.name not in doc.data
                   and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
        if missing:
            raise ValueError(f"{doc.path}: missing field(s) {', '.join(missing)}")
        check_fields(Recipe, {k: v for k, v in doc.data.items() if k not in SECTIONS}, lambda k: f"{doc.where(k)}: {k}")
        for section, cls in (("hardware", Hardware), ("context", Context), ("sft", _sft_config_class())):
            values = doc.data.get(section, {})
            check_type(values, dict, f"{doc.where(section)}: {section}")
            _known(doc, (section,), values, field_types(cls))
            check_fields(cls, values, lambda k: f"{doc.where(section, k)}: {section}.{k}")
    except ValueError as e:
        raise InputError(str(e)) from None


def _known(doc: YamlMapping, section: tuple, values: dict, known: dict) -> None:
    """Every name in `values` is one of `known`; else a ValueError naming the first that is not."""
    for name in values:
        if name not in known:
            label = ".".join(map(str, section + (name,)))
            # SFTConfig has over a hundred fields: name the likely one and point to the rest.
            listed = f"known: {', '.join(known)}" if len(known) <= 12 else "see TRL's SFTConfig"
            raise ValueError(f"{doc.where(*section, name)}: {label}: unknown field{did_you_mean(name, known)} "
                             f"({listed})")


def _sft_config_class() -> type:
    from trl import SFTConfig  # heavy: imported when a recipe is loaded, never for --help

    return SFTConfig


def _find(size: str) -> tuple[Path, str]:
    """The recipe file and size of `--size`: a shipped size (`7b`) or the path of a YAML."""
    own = Path(size)
    if size.endswith((".yaml", ".yml")) or own.is_file():
        if not own.is_file():
            raise InputError(f"--size {size}: no such recipe file")
        return own, own.stem
    path = RECIPES / f"{size}.yaml"
    if not path.is_file():
        raise InputError(f"unknown size {size!r}; valid sizes: {', '.join(sizes())} (or the path of a recipe YAML)")
    return path, size


def load(size: str, overrides: list[str] | None = None) -> Recipe:
    """A shipped recipe by size (`7b`), or the user's own recipe by path (`my/7b-16k.yaml`),
    with `--set` overrides applied (apply_overrides), every value checked by type (check).
    InputError naming the file and line, or the `--set` item, for anything wrong."""
    path, size = _find(size)
    doc = load_mapping(path, "of recipe fields (model, chat_template, hardware, sft, …)")
    apply_overrides(doc, overrides or [])
    check(doc)
    where = f"{path}" + (f" with --set {' '.join(overrides)}" if overrides else "")
    try:
        return Recipe(size=size, path=str(path), overrides=list(overrides or []), **doc.data)
    except (TypeError, ValueError) as e:
        raise InputError(f"{where}: {e}") from None
