"""Which models the service builds with: per tier and role (with the caller's own overrides),
and what each costs. An admin also sees which provider keys the service has (never a key)."""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import PurePath

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from cofounder.api.auth import Caller
from cofounder.api.routes.common import CallerDep, EngineDep
from cofounder.llm.pricing import MICRO_PER_DOLLAR, Price
from cofounder.llm.protocol import ModelError
from cofounder.llm.tiers import PROVIDER_KEY_ENV, ModelChoice

router = APIRouter(tags=["models"])


class _View(BaseModel):
    model_config = ConfigDict(frozen=True)


class TierModel(_View):
    tier: str
    role: str
    model: str
    source: str  # owner, config or bundled: which layer chose it
    priced: bool


class UsdPerMillionTokens(_View):
    input: Decimal
    output: Decimal
    cache_write: Decimal
    cache_read: Decimal


class ModelPrice(_View):
    model: str
    source: str  # config or bundled
    usd_per_mtok: UsdPerMillionTokens


class ProviderKey(_View):
    provider: str
    key_env: str
    key_set: bool


class ModelsView(_View):
    """`cofounder models --json` for the caller: `owner` is whose overrides the tiers carry
    (none for an admin, who sees the service's own table and its provider keys)."""

    owner: str | None
    tiers: list[TierModel]
    prices: list[ModelPrice]
    providers: list[ProviderKey] | None


def _shown(spec: str, who: Caller) -> str:
    """A file-backed spec names a path on the server: an owner sees only the file's name."""
    provider, _, rest = spec.partition(":")
    if who.admin or provider != "scripted":
        return spec
    return f"{provider}:{PurePath(rest).name}"


def _usd(microdollars: int) -> Decimal:
    # normalize() alone would write $30 as 3E+1
    return Decimal(format((Decimal(microdollars) / MICRO_PER_DOLLAR).normalize(), "f"))


def _tier_model(choice: ModelChoice, priced: bool, who: Caller) -> TierModel:
    return TierModel(
        tier=choice.tier,
        role=choice.role,
        model=_shown(choice.spec, who),
        source=choice.source,
        priced=priced,
    )


def _price(spec: str, price: Price, source: str) -> ModelPrice:
    return ModelPrice(
        model=spec,
        source=source,
        usd_per_mtok=UsdPerMillionTokens(
            input=_usd(price.input),
            output=_usd(price.output),
            cache_write=_usd(price.cache_write),
            cache_read=_usd(price.cache_read),
        ),
    )


@router.get("/models", response_model=ModelsView)
def models(engine: EngineDep, who: CallerDep) -> ModelsView:
    settings = engine.settings
    owner = who.scope
    tiers = settings.tier_models()
    book = settings.price_book()

    def priced(spec: str) -> bool:
        try:
            book.price_for(spec)
        except ModelError:
            return False
        return True

    rows = [
        _tier_model(choice, priced(choice.spec), who)
        for name in tiers.tier_names
        for choice in tiers.table(name, owner=owner).values()
    ]
    prices = [
        _price(spec, book.price_for(spec), "config" if spec in settings.prices else "bundled")
        for spec in book.known_specs()
    ]
    keys = [
        ProviderKey(provider=p, key_env=env, key_set=bool(os.environ.get(env, "").strip()))
        for p, env in PROVIDER_KEY_ENV.items()
    ]
    return ModelsView(owner=owner, tiers=rows, prices=prices, providers=keys if who.admin else None)


class Me(_View):
    owner: str
    admin: bool


@router.get("/me", response_model=Me, tags=["models"])
def me(who: CallerDep) -> Me:
    """Who the token (or the dashboard's cookie) is."""
    return Me(owner=who.owner, admin=who.admin)
