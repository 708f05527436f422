"""Filter configuration: which filters, in what order, with what thresholds (`FilterConfig`, from
a YAML), and the run's own options (`FilterRunConfig`, the flags of `python -m factory.filter`).

YAML holds values only (`filters/default.yaml` is the shipped default):

    verify_timeout: 5        # seconds a math-verify call may take
    filters:                 # run top to bottom; the first that fires names the reason
      format: {}
      readability: {max_paragraph_chars: 3000}
      ...

Every filter name maps to one class through `filters.base.REGISTRY`, and every option is a
field of that class, checked against the field's type (factory/core/types.py) before any
filter runs: a wrong one is one error naming the file and the line of its key.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import InitVar, dataclass, field
from pathlib import Path

from factory.core.cli import LogOptions
from factory.core.errors import InputError
from factory.core.types import check_fields, check_type, did_you_mean, field_types
from factory.core.yamlfile import load_mapping
from filters import registry  # noqa: F401  (fills the registry)
from filters.base import GROUP, REGISTRY, Filter
from filters.judge import JudgeOptionError, JudgeSpec

DEFAULT_CONFIG = Path(__file__).with_name("default.yaml")
TOP_LEVEL = ("filters", "verify_timeout", "workers", "batch_rows", "select")   # the keys a filters YAML may have


@dataclass
class FilterConfig:
    """The run's filters (name → options) and how it runs them, checked by name and type.

    Errors are ValueErrors that start with where the value came from: `where(*key path)`
    (a file:line for `load`), else `source`.
    """

    filters: dict[str, dict] = field(default_factory=dict)
    verify_timeout: float = 5.0
    workers: int = 0            # 0: one per core
    batch_rows: int = 256
    select: dict | None = None  # {pass_rate: [lo, hi]}: keep only problems whose pass rate is in the band
    source: str = "defaults"
    where: InitVar[Callable[..., str] | None] = None   # key path → "file:line" (FilterConfig.load)

    def __post_init__(self, where: Callable[..., str] | None):
        at = where or (lambda *keys: self.source)
        check_fields(FilterConfig, {k: getattr(self, k) for k in TOP_LEVEL[1:]}, lambda k: f"{at(k)}: {k}")
        for key, ok, rule in (("verify_timeout", self.verify_timeout > 0, "positive"),
                              ("batch_rows", self.batch_rows >= 1, "at least 1"),
                              ("workers", self.workers >= 0, ">= 0 (0: one per core)")):
            if not ok:
                raise ValueError(f"{at(key)}: {key} must be {rule}")
        if not self.filters:
            raise ValueError(f"{at('filters')}: no filters configured")
        check_type(self.filters, dict, f"{at('filters')}: filters")
        for name, options in self.filters.items():
            _check_filter(name, options, at)
        kinds = [REGISTRY[name].kind for name in self.filters]
        for i, name in enumerate(self.filters):
            if kinds[i] == GROUP and any(k != GROUP for k in kinds[i + 1:]):
                raise ValueError(f"{at('filters', name)}: {name} must be the last filter (group filters come after "
                                 "every other): it judges a row by the rows of its problem the others kept")
        for name in self.filters:  # options are valid values, not just valid names and types
            try:
                self.build_one(name)
            except JudgeOptionError as e:
                raise ValueError(f"{at('filters', name, 'judge', *e.keys)}: {name}.{e}") from None
            except (ValueError, TypeError) as e:
                raise ValueError(f"{at('filters', name)}: {e}") from None
        self.band = _band(self.select, at)
        # The generative judge's settings (the correctness filter's `judge` block, checked above), or None.
        judge = (self.filters.get("correctness") or {}).get("judge")
        self.judge: JudgeSpec | None = JudgeSpec.parse(judge) if judge is not None else None
        self.where = where

    @property
    def n_workers(self) -> int:
        return self.workers or os.cpu_count() or 1

    def build_one(self, name: str) -> Filter:
        return REGISTRY[name](**(self.filters[name] or {}))

    def build(self) -> list[Filter]:
        """Every filter, in the configured order."""
        return [self.build_one(name) for name in self.filters]

    @classmethod
    def load(cls, path: Path | None = None) -> "FilterConfig":
        """The filters YAML `path` (default: filters/default.yaml); InputError naming the file and
        the line of the offending key for anything wrong in it, by name, type or value."""
        path = Path(path or DEFAULT_CONFIG)
        if not path.is_file():
            raise InputError(f"--config {path}: no such file")
        doc = load_mapping(path, "with a 'filters' key")
        for key in doc.data:
            if key not in TOP_LEVEL:
                raise InputError(f"{doc.where(key)}: unknown key {key!r}{did_you_mean(key, TOP_LEVEL)} "
                                 f"(known: {', '.join(TOP_LEVEL)})")
        try:
            return cls(**doc.data, source=str(path), where=doc.where)
        except ValueError as e:
            raise InputError(str(e)) from None


@dataclass(kw_only=True)
class FilterRunConfig(LogOptions):
    input: str = field(metadata={"help": "a generate run dir, Parquet/JSONL file or folder, or a Hub dataset id"})
    out: Path = field(metadata={"help": "output folder: accepted/, rejected/, stats.json, problems.parquet, funnel.png"})
    config: Path | None = field(default=None, metadata={"help": "filters YAML (default: filters/default.yaml)"})
    problem_column: str = field(default="problem", metadata={"help": "column with the problem text"})
    answer_column: str = field(default="answer", metadata={"help": "column with the reference answer"})
    completion_column: str = field(default="completion", metadata={"help": "column with the full completion"})
    id_column: str = field(default="problem_id", metadata={"help": "column with the problem id (else a hash)"})
    split: str = field(default="train", metadata={"help": "split, for a Hub dataset"})
    workers: int = field(default=0, metadata={"help": "worker processes (default: the YAML's, else one per core)"})
    overwrite: bool = field(default=False, metadata={"help": "replace an existing output folder"})
    backend: str = field(default="local", metadata={
        "help": "local: worker processes on this machine; ray: Ray Data stages on a Ray cluster "
                "(--workers actors, default one per cluster CPU), same outputs", "choices": ["local", "ray"]})
    ray_address: str | None = field(default=None, metadata={
        "help": "with --backend ray: `auto` or ray://HOST:10001; default: a local Ray instance"})
    hard_subset: bool = field(default=False, metadata={
        "help": "keep the whole accepted set and write the accepted rows of the problems in the YAML's "
                "difficulty band (select: {pass_rate: [lo, hi]}) to OUT/hard/ too, instead of dropping the others"})

    price_per_device_hour: float | None = field(default=None, metadata={
        "help": "what one device-hour of the generation costs you (GPU, CPU core or endpoint): the cost of an "
                "accepted trace in money (stats.json cost, the card)"})
    price_per_million_tokens: float | None = field(default=None, metadata={
        "help": "what a million tokens (prompt + completion) cost you, for an API teacher"})

    @property
    def partial(self) -> Path:
        """Where the run writes before it swaps the output in whole."""
        return self.out.with_name(self.out.name + ".partial")

    @property
    def old(self) -> Path:
        """Where a replaced output waits during the swap."""
        return self.out.with_name(self.out.name + ".old")

    def __post_init__(self):
        self.out = Path(self.out)
        if self.workers < 0:
            raise ValueError("--workers must be >= 0")
        if self.ray_address and self.backend != "ray":
            raise ValueError("--ray-address needs --backend ray")
        for flag, price in (("--price-per-device-hour", self.price_per_device_hour),
                            ("--price-per-million-tokens", self.price_per_million_tokens)):
            if price is not None and not (isinstance(price, (int, float)) and 0 <= price < float("inf")):
                raise ValueError(f"{flag} must be a number >= 0, not {price!r}")


def _check_filter(name: str, options, at: Callable[..., str]) -> None:
    """One filter's name, and its options' names and types (the fields of its class)."""
    if name not in REGISTRY:
        raise ValueError(f"{at('filters', name)}: unknown filter {name!r} (known: {', '.join(sorted(REGISTRY))})")
    if not isinstance(options or {}, dict):
        raise ValueError(f"{at('filters', name)}: filter {name!r}: options must be a mapping, got {options!r}")
    known = field_types(REGISTRY[name])
    unknown = [option for option in options or {} if option not in known]
    if unknown:
        shown = sorted(set(known) - {"verifier"})  # a callable the pipeline sets, never a YAML value
        raise ValueError(f"{at('filters', name, unknown[0])}: filter {name!r}: unknown option(s) "
                         f"{', '.join(sorted(map(str, unknown)))} (known: {', '.join(shown)})")
    check_fields(REGISTRY[name], options or {}, lambda option: f"{at('filters', name, option)}: {name}.{option}")


def _band(select, at: Callable[..., str]) -> tuple[float, float] | None:
    """`select: {pass_rate: [lo, hi]}` as (lo, hi), checked: two numbers in [0, 1], lo <= hi."""
    if select is None:
        return None
    if set(select) != {"pass_rate"}:
        extra = sorted(map(str, set(select) - {"pass_rate"})) or ["(nothing)"]
        raise ValueError(f"{at('select', *extra[:1])}: select takes one key, pass_rate: [lo, hi] "
                         f"(got {', '.join(extra)})")
    band = select["pass_rate"]
    ok = isinstance(band, list) and len(band) == 2 and all(
        isinstance(x, (int, float)) and not isinstance(x, bool) and 0 <= x <= 1 for x in band)
    if not ok or band[0] > band[1]:
        raise ValueError(f"{at('select', 'pass_rate')}: select.pass_rate must be [lo, hi] with 0 <= lo <= hi <= 1 "
                         f"(a problem's share of correct samples), got {band!r}")
    return float(band[0]), float(band[1])
