"""The command-line face."""

from cofounder.cli.main import app, main

__all__ = ["app", "main"]
