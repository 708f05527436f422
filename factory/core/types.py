"""Checking a config value against a field's annotation, so a wrong type is refused at load.

A YAML file or a `--set` item gives values of any type; a dataclass takes whatever it is given.
`check_type` refuses, with one line saying where, what was expected and what came:

    check_type("3000", int, "my.yaml:7: readability.max_paragraph_chars")
    ValueError: my.yaml:7: readability.max_paragraph_chars: expected int, got str '3000'

Understood: Any, None, bool, int (a bool is not one), float (an int is one; nan and inf are
refused unless the caller allows them), str, Path (from a str), Optional/Union, list[X],
tuple[X, ...], dict[K, V], Literal[...], Enum classes (a member or its value), Callable, and
any other class by isinstance.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import difflib
import enum
import math
import os
import re
import types
import typing
from pathlib import Path
from typing import Any

NONFINITE = "nonfinite"   # field metadata key: {"nonfinite": True} lets a float field be nan or inf
_EXPONENT = re.compile(r"[+-]?\d+(\.\d*)?[eE][+-]?\d+")


def check_type(value: Any, annotation: Any, where: str, *, finite: bool = True) -> None:
    """Return if `value` fits `annotation`; else raise ValueError
    "`where`: expected <annotation>, got <type> <value>". `finite`: a float must be finite."""
    if _fits(value, annotation, finite):
        return
    if isinstance(value, float) and _fits(value, annotation, False):
        raise ValueError(f"{where}: expected a finite number, got {value}")
    got = "null" if value is None else f"{type(value).__name__} {_short(value)}"
    hint = ""
    if isinstance(value, str) and _EXPONENT.fullmatch(value.strip()) and _fits(1.0, annotation, True):
        hint = " (YAML reads a number like 1e-5 without a dot as text: write 1.0e-5)"
    raise ValueError(f"{where}: expected {describe(annotation)}, got {got}{hint}")


def field_types(cls: type) -> dict[str, Any]:
    """Name → resolved annotation of the init fields of dataclass `cls`, private `_x` ones left out."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls) if f.init and not f.name.startswith("_")}


def check_fields(cls: type, values: collections.abc.Mapping, where: collections.abc.Callable[[str], str]) -> None:
    """Each value in `values` named after an init field of dataclass `cls` has that field's type;
    `where(name)` prefixes the error. A field whose default is None also takes null; a float
    field takes nan/inf only if its metadata opts in (NONFINITE). Names that are not fields are
    left to the caller, who knows how to say so."""
    types_ = field_types(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for name, value in values.items():
        if name in types_:
            if value is None and fields[name].default is None:
                continue
            check_type(value, types_[name], where(name), finite=not fields[name].metadata.get(NONFINITE, False))


def did_you_mean(name: str, known: collections.abc.Iterable[str]) -> str:
    """A " (did you mean x?)" suffix for a close known name; empty when none is close."""
    close = difflib.get_close_matches(str(name), list(known), n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def describe(annotation: Any) -> str:
    """The annotation as a user reads it: `int or null`, `list of str`, `one of 'a', 'b'`."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is type(None) or annotation is None:
        return "null"
    if annotation is Any:
        return "anything"
    if origin in (typing.Union, types.UnionType):
        if str in args and any(_is_enum(a) for a in args):  # the enum's values are the str (see _fits)
            args = tuple(a for a in args if a is not str)
        return " or ".join(dict.fromkeys(describe(a) for a in args))
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin in (list, tuple, collections.abc.Sequence):
        return f"list of {describe(args[0])}" if args else "list"
    if origin in (dict, collections.abc.Mapping):
        return f"mapping of {describe(args[0])} to {describe(args[1])}" if args else "mapping"
    if origin is collections.abc.Callable or annotation is collections.abc.Callable:
        return "a callable"
    if annotation in (dict, collections.abc.Mapping):
        return "mapping"
    if annotation in (list, tuple):
        return "list"
    if _is_enum(annotation):
        return "one of " + ", ".join(repr(m.value) for m in annotation)
    if annotation is Path:
        return "path"
    return getattr(annotation, "__name__", str(annotation))


def _fits(value: Any, annotation: Any, finite: bool) -> bool:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is Any or annotation is object:
        return True
    if annotation is None or annotation is type(None):
        return value is None
    if origin in (typing.Union, types.UnionType):
        # Hugging Face's convention: `Union[SomeEnum, str]` is the enum, spelled as a value
        # (TrainingArguments converts it in __post_init__), not any text.
        enums = [a for a in args if _is_enum(a)]
        if enums and isinstance(value, str) and str in args:
            return any(_fits(value, e, finite) for e in enums)
        return any(_fits(value, a, finite) for a in args)
    if origin is typing.Literal:
        return any(value == a and type(value) is type(a) for a in args)
    if origin is not None:
        return _fits_generic(value, origin, args, finite)
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is float:
        return (isinstance(value, (int, float)) and not isinstance(value, bool)
                and (not finite or math.isfinite(value)))
    if annotation is Path:
        return isinstance(value, (str, os.PathLike))
    if annotation is collections.abc.Callable:
        return callable(value)
    if _is_enum(annotation):
        return isinstance(value, annotation) or any(value == m.value for m in annotation)
    if isinstance(annotation, type):
        return isinstance(value, annotation)
    return True  # a forward reference or a typing construct not used in configs: not ours to refuse


def _fits_generic(value: Any, origin: Any, args: tuple, finite: bool) -> bool:
    """list[X], tuple[X, ...], dict[K, V], Callable[...] and their abc spellings."""
    if origin is collections.abc.Callable:
        return callable(value)
    if origin in (list, tuple, collections.abc.Sequence):
        # YAML has one sequence type, so a tuple field takes a list; a str is no list of anything.
        if not isinstance(value, (list, tuple)):
            return False
        item = args[0] if args else Any
        return all(_fits(v, item, finite) for v in value)
    if origin in (dict, collections.abc.Mapping):
        if not isinstance(value, dict):
            return False
        key, item = args if len(args) == 2 else (Any, Any)
        return all(_fits(k, key, finite) and _fits(v, item, finite) for k, v in value.items())
    return isinstance(value, origin) if isinstance(origin, type) else True


def _is_enum(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, enum.Enum)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
