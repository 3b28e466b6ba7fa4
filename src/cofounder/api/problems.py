"""Errors as RFC 9457 problem details (`application/problem+json`), one shape for all."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from cofounder.engine.errors import (
    BadInputError,
    ConflictError,
    DailyCapError,
    EngineError,
    NotFoundError,
    QueueFullError,
    SessionFinishedError,
)

log = structlog.get_logger(__name__)

PROBLEM = "application/problem+json"
_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    429: "Too many requests",
    503: "Service unavailable",
    500: "Internal server error",
}


class Problem(BaseModel):
    """What went wrong with a request: the body of every error answer (RFC 9457)."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[dict[str, str]] | None = None  # 422: each field's {path, message}
    retry_after_s: int | None = None  # 429: also the Retry-After header


# Every route may answer a client error (bad input, no or bad token, not the caller's or
# absent, a conflict, too large, too many): documented once, as problem+json only.
RESPONSES: dict[int | str, dict[str, Any]] = {
    "4XX": {
        "description": "A problem (RFC 9457): `detail` says what, `errors` which fields",
        "content": {PROBLEM: {"schema": Problem.model_json_schema()}},
    }
}


def problem(status: int, detail: str, **extra: Any) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    retry = extra.pop("retry_after_s", None)
    if retry is not None:
        headers = {"Retry-After": str(int(retry))}
        extra["retry_after_s"] = int(retry)
    body = {"type": "about:blank", "title": _TITLES.get(status, "Error"), "status": status}
    body["detail"] = detail
    return JSONResponse({**body, **extra}, status_code=status, media_type=PROBLEM, headers=headers)


def _status_of(exc: EngineError) -> int:
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, QueueFullError | DailyCapError):
        return 429
    if isinstance(exc, ConflictError | SessionFinishedError):
        return 409
    if isinstance(exc, BadInputError):
        return 422
    return 409


def _field_error(error: Any) -> dict[str, str]:
    """One validation error as {path, message}: the path names the field in the body (as
    `name`, not `body.name`), or the parameter (`query.limit`), or `body` as a whole; a body
    that is not JSON is `body` too (its `loc` holds the character offset, not a field)."""
    if error.get("type") == "json_invalid":
        position = error.get("loc", ("body", 0))[-1]
        reason = error.get("ctx", {}).get("error", "invalid JSON")
        return {"path": "body", "message": f"malformed JSON at character {position}: {reason}"}
    loc = tuple(error.get("loc", ()))
    path = ".".join(str(p) for p in (loc[1:] if loc[:1] == ("body",) and len(loc) > 1 else loc))
    return {"path": path, "message": str(error.get("msg", "invalid"))}


def install(app: FastAPI) -> None:
    @app.exception_handler(HTTPException)
    async def http_problem(_request: Request, exc: HTTPException) -> JSONResponse:
        return problem(exc.status_code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [_field_error(e) for e in exc.errors()]
        first = errors[0] if errors else {"path": "", "message": "invalid request"}
        detail = f"{first['path']}: {first['message']}" if first["path"] else first["message"]
        return problem(422, detail, errors=errors)

    @app.exception_handler(EngineError)
    async def engine_problem(_request: Request, exc: EngineError) -> JSONResponse:
        retry = getattr(exc, "retry_after_s", None)
        errors = getattr(exc, "errors", None)
        extra = {"errors": errors} if errors is not None else {}
        return problem(_status_of(exc), str(exc), retry_after_s=retry, **extra)

    @app.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception) -> JSONResponse:
        log.exception("api_internal_error", path=request.url.path)
        return problem(500, "the server failed to handle this request; it has been logged")
