"""What a tool call is, whatever its spelling: shell parsing, the canonical command, its head,
and whether it only reads."""
