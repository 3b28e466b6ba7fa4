"""`cofounder models`: which model each tier uses per role, where that came from, the price
table, and whether each provider's API key is set (never its value)."""

from __future__ import annotations

import json
import os
import re
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cofounder.cli.common import EXIT_BAD_INPUT, JsonFlag, fail, open_settings, out
from cofounder.llm.tiers import TIER_NAMES

if TYPE_CHECKING:
    from cofounder.config import Settings
    from cofounder.llm.pricing import Price, PriceBook
    from cofounder.llm.tiers import ModelChoice


def _env_set(name: str) -> bool:
    return bool(os.environ.get(name, "").strip())


def _usd(microdollars: int) -> str:
    from cofounder.llm.pricing import MICRO_PER_DOLLAR

    return format((Decimal(microdollars) / MICRO_PER_DOLLAR).normalize(), "f")


def _price_row(spec: str, price: Price, source: str) -> dict[str, Any]:
    return {
        "spec": spec,
        "source": source,
        "usd_per_mtok": {
            "input": _usd(price.input),
            "output": _usd(price.output),
            "cache_write": _usd(price.cache_write),
            "cache_read": _usd(price.cache_read),
        },
    }


def _choice_row(choice: ModelChoice, book: PriceBook) -> dict[str, Any]:
    from cofounder.llm.protocol import ModelError
    from cofounder.llm.tiers import PROVIDER_KEY_ENV

    provider = choice.spec.partition(":")[0]
    key_env = PROVIDER_KEY_ENV.get(provider)
    try:
        book.price_for(choice.spec)
        priced = True
    except ModelError:
        priced = False
    return {
        "tier": choice.tier,
        "role": choice.role,
        "spec": choice.spec,
        "source": choice.source,
        "from": choice.describe(),
        "priced": priced,
        "key_env": key_env,
        "key_set": _env_set(key_env) if key_env else None,
    }


def models_payload(settings: Settings, *, tier: str | None, owner: str | None) -> dict[str, Any]:
    """Everything `cofounder models` shows, as plain JSON-able data."""
    from cofounder.llm.tiers import PROVIDER_BASE_URL_ENV, PROVIDER_KEY_ENV

    tiers = settings.tier_models()
    book = settings.price_book()
    rows = [
        _choice_row(choice, book)
        for name in ([tier] if tier else tiers.tier_names)
        for choice in tiers.table(name, owner=owner).values()
    ]
    prices = [
        _price_row(spec, book.price_for(spec), "config" if spec in settings.prices else "bundled")
        for spec in book.known_specs()
    ]
    providers = [
        {
            "provider": provider,
            "key_env": key_env,
            "key_set": _env_set(key_env),
            "base_url_env": PROVIDER_BASE_URL_ENV[provider],
            "base_url_set": _env_set(PROVIDER_BASE_URL_ENV[provider]),
        }
        for provider, key_env in PROVIDER_KEY_ENV.items()
    ]
    return {
        "owner": owner,
        "tiers": rows,
        "owners": {
            name: roles.as_roles()
            for name, roles in sorted(settings.owners.items())
            if owner is None or name == owner
        },
        "prices": prices,
        "providers": providers,
    }


def models(
    as_json: JsonFlag = False,
    tier: Annotated[
        str | None, typer.Option("--tier", help=f"Only this tier ({' | '.join(TIER_NAMES)}).")
    ] = None,
    owner: Annotated[
        str | None, typer.Option("--owner", help="Resolve with this owner's overrides.")
    ] = None,
) -> None:
    """List the models per tier and role, the price table, and which API keys are set."""
    from cofounder.project.spec import OWNER_PATTERN, TIERS

    if tier is not None and tier not in TIERS:
        fail(f"unknown tier {tier!r}; known tiers: {', '.join(TIERS)}", EXIT_BAD_INPUT)
    if owner is not None and not re.match(OWNER_PATTERN, owner):
        fail(f"not an owner id: {owner!r}", EXIT_BAD_INPUT)
    payload = models_payload(open_settings(None), tier=tier, owner=owner)
    if as_json:
        print(json.dumps(payload))
        return
    _render(payload)


def register(app: typer.Typer) -> None:
    app.command()(models)


def _columns(rows: list[list[str]], right: frozenset[int] = frozenset()) -> list[str]:
    """Plain aligned columns: specs are never cut, whatever the terminal width."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(
            cell.rjust(width) if i in right else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    ]


def _render(payload: dict[str, Any]) -> None:
    from rich.markup import escape

    def say(line: str = "") -> None:
        out().print(escape(line), soft_wrap=True)

    owner = payload["owner"]
    say("models by tier" + (f" (owner {owner})" if owner else "") + ":")
    rows = [["tier", "role", "model", "from"]]
    for row in payload["tiers"]:
        notes = [] if row["priced"] else ["no price!"]
        if row["key_set"] is False:
            notes.append(f"{row['key_env']} not set")
        model = row["spec"] + (f" ({'; '.join(notes)})" if notes else "")
        source = f"owner {owner}" if row["source"] == "owner" else row["source"]
        rows.append([row["tier"], row["role"], model, source])
    for line in _columns(rows):
        say("  " + line)
    for name, roles in payload["owners"].items():
        overrides = ", ".join(f"{role} = {spec}" for role, spec in roles.items())
        say(f"  [owners.{name}] {overrides}")
    say()
    say("prices (USD per million tokens):")
    rows = [["model", "input", "output", "cache write", "cache read", "from"]]
    for row in payload["prices"]:
        usd = row["usd_per_mtok"]
        rows.append(
            [
                row["spec"],
                usd["input"],
                usd["output"],
                usd["cache_write"],
                usd["cache_read"],
                row["source"],
            ]
        )
    for line in _columns(rows, right=frozenset({1, 2, 3, 4})):
        say("  " + line)
    say()
    say("providers:")
    for provider in payload["providers"]:
        key = "set" if provider["key_set"] else "not set"
        base = "set" if provider["base_url_set"] else "not set"
        say(
            f"  {provider['provider']}: {provider['key_env']} {key},"
            f" {provider['base_url_env']} {base}"
        )
