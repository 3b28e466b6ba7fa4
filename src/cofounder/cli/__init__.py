"""The command-line face. `app` and `main` load on first use, so importing a view module
(`cofounder.cli.inert`, `cofounder.cli.render`) does not build the whole command line."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cofounder.lazy import lazy_exports

if TYPE_CHECKING:
    from cofounder.cli.main import app, main

__getattr__ = lazy_exports(__name__, {"app": "main", "main": "main"})

__all__ = ["app", "main"]
