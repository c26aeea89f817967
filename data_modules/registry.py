"""The one way to select something by name: a registry per kind, filled by decorators or lazy import paths."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class UnknownNameError(ValueError):
    """A name that no entry of a registry answers to; the message lists the valid choices."""


class Registry(Generic[T]):
    """Named entries of one kind. `option` is the config key users set (e.g. `data.adapter`), used in errors.

    An entry is an object, or a `"module:attribute"` (or `"module"`) path imported on first use so that
    selecting one entry never imports the others (heavy dependencies stay unloaded)."""

    def __init__(self, option: str) -> None:
        self.option = option
        self._entries: dict[str, T | str] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator adding the decorated object under `name`."""
        def add(obj: T) -> T:
            self.add(name, obj)
            return obj
        return add

    def add(self, name: str, entry: T | str) -> None:
        """Add an object, or a lazy `"module:attribute"` / `"module"` path, under `name` (names are unique)."""
        if name in self._entries:
            raise ValueError(f"{self.option} '{name}' is registered twice")
        self._entries[name] = entry

    def names(self) -> list[str]:
        """Every registered name, in registration order."""
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def check(self, name: str) -> str:
        """`name` if registered, else an UnknownNameError naming the valid choices."""
        if name not in self._entries:
            raise UnknownNameError(f"unknown {self.option} '{name}'; valid choices: {', '.join(self._entries)}")
        return name

    def get(self, name: str) -> T:
        """The entry under `name`, importing a lazy one on first use."""
        entry = self._entries[self.check(name)]
        if isinstance(entry, str):
            module, _, attribute = entry.partition(":")
            entry = importlib.import_module(module)
            entry = getattr(entry, attribute) if attribute else entry
            self._entries[name] = entry
        return entry
