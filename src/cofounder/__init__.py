"""Cofounder: a durable, budget-aware LLM build agent that turns an idea into a running app."""

__version__ = "0.1.0"
