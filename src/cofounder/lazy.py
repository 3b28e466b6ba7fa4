"""Lazy re-exports for package `__init__` files, so that every command starts fast.

A package keeps the names its callers import (`from cofounder.storage import Database`), but
loading the package no longer loads every module behind them: a command that only reads
settings never pays for SQLAlchemy's ORM, structlog or an object-store client. Each package
lists its names for type checkers under `if TYPE_CHECKING:` and calls `lazy_exports` with the
module each name lives in; the first access imports that module and caches the name.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping


def lazy_exports(package: str, where: Mapping[str, str]) -> Callable[[str], object]:
    """A module-level `__getattr__` for `package`: `where` maps each exported name to the
    submodule (relative to `package`) that defines it."""

    def __getattr__(name: str) -> object:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        setattr(sys.modules[package], name, value)  # later lookups skip this function
        return value

    return __getattr__
