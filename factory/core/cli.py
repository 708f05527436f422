"""Command-line plumbing shared by the verbs: dataclass → argparse, exit codes.

A config dataclass is the single source of truth for flags. Each field may
carry `metadata={"help": ..., "flag": "--name", "choices": [...], "nargs": "+"}`
(a list is comma-separated unless it sets nargs); the flag
defaults to the field name with dashes. Validation lives in the dataclass's
`__post_init__`, whose ValueError becomes an InputError (exit code 2).

A config composed of option groups (generators/options.py) gets one `--help`
section per group. A verb may give `defaults` that replace a field's own (the lab's
paths are the verbs' defaults, never the library's).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import types
import typing
from pathlib import Path
from typing import Any, Callable, TypeVar

from factory.core import logs
from factory.core.errors import EXIT_INPUT, EXIT_RUNTIME, InputError, RuntimeFailure
from factory.core.outdir import os_error_line

T = TypeVar("T")


@dataclasses.dataclass(kw_only=True)
class LogOptions:
    """Where the libraries' own logs go (factory/core/logs.py)."""

    verbose: bool = dataclasses.field(default=False, metadata={
        "help": "show vLLM's, transformers' and TRL's own logs on screen (default: OUT/logs/VERB.log)"})


def quiet(config: LogOptions, out, verb: str, *, beside: bool = False) -> None:
    """Route the libraries' chatter to OUT/logs/VERB.log unless --verbose, and say where.
    `beside`: OUT is swapped in whole at the end (the filter), so the log is OUT.log next to it."""
    out = Path(out)
    path = logs.route(out.with_name(out.name + ".log") if beside else out / "logs" / f"{verb}.log", config.verbose)
    if path is not None:
        print(f"library logs: {path} (--verbose shows them here)", file=sys.stderr, flush=True)


def _base_type(tp: Any) -> Any:
    """`int | None` → int; `list[str]` stays a list marker."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return _base_type(args[0])
    return tp


def _parse_list(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _groups(cls: type) -> list[tuple[type, list[dataclasses.Field]]]:
    """The fields by the class that declares them: the config's own first, then its groups."""
    by_owner: dict[type, list] = {}
    for f in dataclasses.fields(cls):
        owner = next(c for c in cls.__mro__ if f.name in c.__dict__.get("__annotations__", {}))
        by_owner.setdefault(owner, []).append(f)
    return sorted(by_owner.items(), key=lambda item: cls.__mro__.index(item[0]))


def add_dataclass_args(parser: argparse.ArgumentParser, cls: type, defaults: dict | None = None) -> None:
    hints = typing.get_type_hints(cls)
    defaults = defaults or {}
    for owner, fields in _groups(cls):
        target = parser if owner is cls else parser.add_argument_group(
            owner.__name__.replace("Options", " options").lower(), (owner.__doc__ or "").strip() or None)
        for f in fields:
            if f.init and f.metadata.get("cli") is not False:
                _add_field(target, f, _base_type(hints[f.name]), defaults)


def _add_field(parser, f: dataclasses.Field, tp: Any, defaults: dict) -> None:
    flag = f.metadata.get("flag", "--" + f.name.replace("_", "-"))
    kwargs: dict[str, Any] = {"dest": f.name, "help": f.metadata.get("help", "")}
    has_default = f.name in defaults or f.default is not dataclasses.MISSING \
        or f.default_factory is not dataclasses.MISSING
    if not has_default:
        kwargs["required"] = True
    else:
        kwargs["default"] = argparse.SUPPRESS  # the dataclass (or the verb) owns defaults
        if f.name in defaults:
            default = defaults[f.name]
        else:
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        if default not in (None, "", []) and not isinstance(default, bool):
            kwargs["help"] += f" (default: {default})"
    kwargs["help"] = kwargs["help"].replace("%", "%%")  # help is text: argparse %-formats it
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


def parse_config(cls: type[T], argv: list[str] | None, *, prog: str, doc: str, defaults: dict | None = None) -> T:
    parser = argparse.ArgumentParser(
        prog=prog, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_dataclass_args(parser, cls, defaults)
    ns = parser.parse_args(argv)
    try:
        return cls(**{**(defaults or {}), **vars(ns)})
    except ValueError as e:  # __post_init__ validation
        raise InputError(str(e)) from None


def run_cli(main: Callable[[], int | None]) -> int:
    """Run a verb: InputError → exit 2 with a one-line message; Ctrl-C → 130."""
    try:
        return main() or 0
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        logs.discard()  # bad input leaves nothing behind, not even a log
        return EXIT_INPUT
    except KeyboardInterrupt:
        print("interrupted: rerun the same command to resume", file=sys.stderr)
        return 130
    except RuntimeFailure as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_RUNTIME
    except OSError as e:  # a full or failing disk mid-run: what was finished is kept
        print(f"error: {os_error_line(e)}; what was finished is kept: rerun the same command once fixed",
              file=sys.stderr)
        return EXIT_RUNTIME

