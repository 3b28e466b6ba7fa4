"""The tables inside the settings: prices, models per role, tier limits and the bundled
defaults they fall back to. Kept apart so `config.py` is only the settings' shape."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from cofounder.llm.protocol import ModelError
from cofounder.llm.registry import parse_model_spec
from cofounder.llm.tiers import Role


class ModelPrice(BaseModel):
    """USD per million tokens; missing cache prices default to the input price."""

    model_config = ConfigDict(extra="forbid")

    input: Decimal = Field(ge=0, le=1_000_000)
    output: Decimal = Field(ge=0, le=1_000_000)
    cache_write: Decimal | None = Field(default=None, ge=0, le=1_000_000)
    cache_read: Decimal | None = Field(default=None, ge=0, le=1_000_000)


class RoleModels(BaseModel):
    """Model specs per role for one tier or one owner; a role left out falls through.

    A table that sets `coder` but not `summarizer` makes its coder summarize too.
    """

    model_config = ConfigDict(extra="forbid")

    coder: str | None = None
    summarizer: str | None = None

    @field_validator("coder", "summarizer")
    @classmethod
    def _check_spec(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            provider, rest = parse_model_spec(value)
        except ModelError as exc:
            raise ValueError(str(exc)) from None
        return f"{provider.name}:{rest}"

    def as_roles(self) -> dict[Role, str]:
        roles: dict[Role, str | None] = {"coder": self.coder, "summarizer": self.summarizer}
        return {role: spec for role, spec in roles.items() if spec is not None}


Usd = Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=6)]


class TierLimits(BaseModel):
    """How many builds one owner may run at once, per owner and per project, and start per
    UTC day (None: no daily cap). A build over a running limit waits in the queue."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    per_owner: int = Field(ge=1, le=100_000)
    per_project: int = Field(ge=1, le=100_000)
    per_day: int | None = Field(default=None, ge=1, le=10_000_000)


BUNDLED_TIER_LIMITS: dict[str, TierLimits] = {
    "bootstrapper": TierLimits(per_owner=2, per_project=2, per_day=10),
    "partner": TierLimits(per_owner=3, per_project=3, per_day=50),
    "cto_scale": TierLimits(per_owner=10, per_project=5, per_day=None),
}
# Queue order: a lower rank starts first; FIFO within a rank.
TIER_PRIORITY: dict[str, int] = {"cto_scale": 1, "partner": 2, "bootstrapper": 3}

BUNDLED_ALLOWANCES_USD: dict[str, Decimal] = {
    "bootstrapper": Decimal(5),
    "partner": Decimal(25),
    "cto_scale": Decimal(100),
}
