"""The one command-line style of every entry point: `key=value` arguments parsed into a typed dataclass;
`--help` prints the usage, expected errors end in one line (exit 2) naming the file or value and the fix, and
`--debug` (or HYDRA_FULL_ERROR=1) shows the traceback instead."""

from __future__ import annotations

import dataclasses
import os
import sys
import types
import typing
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from data_modules.io import DamagedFileError
from data_modules.registry import UnknownNameError
from data_modules.sources.common import DatasetLayoutError

T = TypeVar("T")
TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


class UsageError(ValueError):
    """A bad command line; the message names the argument and how to fix it."""


class InputFileError(ValueError):
    """An input file that is damaged, changed or of the wrong kind; the message names it and the fix."""


EXPECTED_ERRORS = (UsageError, UnknownNameError, DatasetLayoutError, InputFileError, DamagedFileError,
                   FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError)


def debug_requested(args: Sequence[str]) -> bool:
    """True when the user asked for tracebacks: `--debug` among the arguments or HYDRA_FULL_ERROR=1."""
    return "--debug" in args or os.environ.get("HYDRA_FULL_ERROR") == "1"


def fail(err: BaseException) -> NoReturn:
    """End the process with one `error: ...` line (exit 2)."""
    message = " ".join(str(err).split()) or type(err).__name__
    sys.stderr.write(f"error: {message}\n")
    sys.exit(2)


def parse_bool(key: str, text: str) -> bool:
    """`text` as a boolean (true/false, yes/no, on/off, 1/0), or a UsageError naming `key`."""
    if text.lower() not in TRUE + FALSE:
        raise UsageError(f"{key}={text}: expected true or false")
    return text.lower() in TRUE


def _convert(key: str, text: str, kind: Any) -> Any:
    """`text` as the annotated type of field `key` (Path, int, float, bool, str, or X | None)."""
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        if text.lower() in ("none", "null"):
            return None
        kind = next(a for a in typing.get_args(kind) if a is not type(None))
    if kind is bool:
        return parse_bool(key, text)
    try:
        return Path(text) if kind is Path else kind(text)
    except ValueError:
        raise UsageError(f"{key}={text}: expected {getattr(kind, '__name__', kind)}") from None


def parse_args(cls: type[T], argv: Sequence[str], usage: str) -> T:
    """Fill dataclass `cls` from `key=value` arguments; a bad, unknown or missing one is a UsageError."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    for arg in argv:
        key, sep, text = arg.partition("=")
        if not sep or key not in names:
            raise UsageError(f"unknown argument '{arg}'; valid keys: {', '.join(sorted(names))} ({usage})")
        values[key] = _convert(key, text, hints[key])
    missing = [f.name for f in dataclasses.fields(cls) if f.name not in values
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise UsageError(f"missing {', '.join(f'{m}=...' for m in missing)} ({usage})")
    return cls(**values)


def run_main(main: Callable[[list[str]], int | None], usage: str, argv: Sequence[str] | None = None) -> None:
    """Call `main(arguments)` and exit with its status; expected errors become one `error: ...` line."""
    args = list(sys.argv[1:] if argv is None else argv)
    if any(a in ("-h", "--help") for a in args):
        print(usage)
        sys.exit(0)
    debug = debug_requested(args)
    args = [a for a in args if a != "--debug"]
    try:
        status = main(args)
    except EXPECTED_ERRORS as err:
        if debug:
            raise
        fail(err)
    sys.exit(status or 0)
