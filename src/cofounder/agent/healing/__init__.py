"""Self-healing: what failed (error signatures and classes), how often, what to try next, and
when to ask the founder (escalation)."""
