"""Command-line plumbing shared by the verbs: dataclass → argparse, exit codes.

A config dataclass is the single source of truth for flags. Each field may
carry `metadata={"help": ..., "flag": "--name", "choices": [...], "nargs": "+"}`
(a list is comma-separated unless it sets nargs); the flag
defaults to the field name with dashes. Validation lives in the dataclass's
`__post_init__`, whose ValueError becomes an InputError (exit code 2).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import types
import typing
from typing import Any, Callable, TypeVar

from factory.core.errors import EXIT_INPUT, EXIT_RUNTIME, InputError, RuntimeFailure

T = TypeVar("T")


def _base_type(tp: Any) -> Any:
    """`int | None` → int; `list[str]` stays a list marker."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return _base_type(args[0])
    return tp


def _parse_list(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def add_dataclass_args(parser: argparse.ArgumentParser, cls: type) -> None:
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if not f.init or f.metadata.get("cli") is False:
            continue
        tp = _base_type(hints[f.name])
        flag = f.metadata.get("flag", "--" + f.name.replace("_", "-"))
        kwargs: dict[str, Any] = {"dest": f.name, "help": f.metadata.get("help", "")}
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if required:
            kwargs["required"] = True
        else:
            kwargs["default"] = argparse.SUPPRESS  # the dataclass owns defaults
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
            if default not in (None, "", []) and not isinstance(default, bool):
                kwargs["help"] += f" (default: {default})"
        if tp is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif typing.get_origin(tp) is list and f.metadata.get("nargs"):
            kwargs["nargs"] = f.metadata["nargs"]  # space-separated values
        elif typing.get_origin(tp) is list:
            kwargs["type"] = _parse_list
            kwargs["metavar"] = "A,B,…"
        else:
            kwargs["type"] = tp
        if "choices" in f.metadata:
            kwargs["choices"] = f.metadata["choices"]
        parser.add_argument(flag, **kwargs)


def parse_config(cls: type[T], argv: list[str] | None, *, prog: str, doc: str) -> T:
    parser = argparse.ArgumentParser(
        prog=prog, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_dataclass_args(parser, cls)
    ns = parser.parse_args(argv)
    try:
        return cls(**vars(ns))
    except ValueError as e:  # __post_init__ validation
        raise InputError(str(e)) from None


def run_cli(main: Callable[[], int | None]) -> int:
    """Run a verb: InputError → exit 2 with a one-line message; Ctrl-C → 130."""
    try:
        return main() or 0
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        print("interrupted: rerun the same command to resume", file=sys.stderr)
        return 130
    except RuntimeFailure as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_RUNTIME

