"""An instance of any event model with every field filled, read off the model's own fields:
a new event type or field is covered by the tests that use these without being listed here."""

from __future__ import annotations

import types
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar, Union, get_args, get_origin

from pydantic import AwareDatetime, BaseModel

from cofounder.events import BaseEvent

M = TypeVar("M", bound=BaseModel)
E = TypeVar("E", bound=BaseEvent)
WHEN = datetime(2025, 6, 1, 9, 30, tzinfo=UTC)


def _value(annotation: Any, text: str) -> Any:
    origin = get_origin(annotation)
    args = get_args(annotation)
    if origin is Annotated:
        return _value(args[0], text)
    if origin in (Union, types.UnionType):
        return _value(next(a for a in args if a is not type(None)), text)
    if origin is list:
        return [_value(args[0], text)]
    if origin is Literal:
        return args[0]
    if annotation is str:
        return text
    if annotation is bool:
        return True
    if annotation is int:
        return 7
    if annotation is float:
        return 1.5
    if annotation in (datetime, AwareDatetime):
        return WHEN
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return filled(annotation, text)
    raise AssertionError(f"no sample value for {annotation!r}")


def filled(model: type[M], text: str = "x") -> M:
    """`model` with every field set (optional ones too); every string is `text`."""
    return model(**{name: _value(f.annotation, text) for name, f in model.model_fields.items()})


def minimal(model: type[E]) -> E:
    """`model` with only its required fields set: what the oldest row of its type holds."""
    return model(
        **{
            name: _value(f.annotation, "x")
            for name, f in model.model_fields.items()
            if f.is_required()
        }
    )
