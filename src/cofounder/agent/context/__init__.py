"""What the model sees of a long conversation: its size, trimming, summaries, and checks that
every tool_use keeps its tool_result."""
