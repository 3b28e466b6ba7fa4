"""The HTTP service: every route owned by a token's owner, events replayable over SSE.

`create_app(settings)` builds the FastAPI app; `cofounder serve` runs it on uvicorn."""
