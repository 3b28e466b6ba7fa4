"""`cofounder budget OWNER` and `cofounder budget top-up OWNER AMOUNT`: an owner's allowance.

Amounts are read as decimal USD and stored as integer microdollars; a top-up counts in the
current window only (the next window starts from the plain allowance again).
"""

from __future__ import annotations

import json
import re
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Annotated

import typer

from cofounder.cli.common import EXIT_BAD_INPUT, DataDir, JsonFlag, fail, open_catalog, out

if TYPE_CHECKING:
    from cofounder.engine import Catalog

MAX_TOP_UP_USD = Decimal(100_000)


def budget(
    words: Annotated[
        list[str], typer.Argument(help="OWNER, or: top-up OWNER AMOUNT (USD)", metavar="...")
    ],
    tier: Annotated[
        str | None,
        typer.Option(
            "--tier",
            help="Tier whose allowance applies (default: the owner's "
            "latest session's tier, else bootstrapper).",
        ),
    ] = None,
    data_dir: DataDir = None,
    as_json: JsonFlag = False,
    new_owner: Annotated[
        bool, typer.Option("--new-owner", help="Allow a top-up for an owner not seen yet.")
    ] = False,
) -> None:
    """Show an owner's allowance, spend and reservations in the current window; or add a
    top-up to it."""
    from cofounder.project.spec import OWNER_PATTERN, TIERS

    if words and words[0] == "top-up":
        if len(words) != 3:
            fail("usage: cofounder budget top-up OWNER AMOUNT", EXIT_BAD_INPUT)
        owner, amount = words[1], _usd(words[2])
    elif len(words) == 1:
        owner, amount = words[0], None
    else:
        fail("usage: cofounder budget OWNER | cofounder budget top-up OWNER AMOUNT", 2)
    if not re.fullmatch(OWNER_PATTERN, owner):
        fail(f"OWNER may only hold letters, digits, '_', '.' and '-'; got {owner!r}", 2)
    catalog = open_catalog(data_dir)
    known = _known_owners(catalog) if amount is not None and not new_owner else {owner}
    if owner not in known:
        fail(
            f"no session or setting names owner {owner!r} (known:"
            f" {', '.join(sorted(known)) or 'none yet'}); check the"
            " spelling, or pass --new-owner to top up before their first build",
            EXIT_BAD_INPUT,
        )
    chosen = tier or _latest_tier(catalog, owner)
    if chosen not in TIERS:
        fail(f"unknown tier {chosen!r}; known tiers: {', '.join(TIERS)}", EXIT_BAD_INPUT)
    if amount is not None:
        catalog.top_up(owner, amount)
    status = catalog.owner_status(owner, chosen)
    payload = {
        "owner": owner,
        "tier": chosen,
        "allowance_microdollars": status.allowance,
        "spent_microdollars": status.spent,
        "reserved_microdollars": status.reserved,
        "remaining_microdollars": status.remaining,
        "percent": status.percent,
        "window_start": status.window_start.isoformat(),
        "window_end": status.window_end.isoformat(),
    }
    if as_json:
        print(json.dumps(payload))
        return
    if amount is not None:
        out().print(f"topped up {owner} by ${amount / 1e6:,.2f} for this window")
    for key, value in payload.items():
        shown = (
            f"${value / 1e6:,.4f}" if isinstance(value, int) and key.endswith("dollars") else value
        )
        out().print(f"[bold]{key.removesuffix('_microdollars'):>10}[/]  {shown}")


def _usd(text: str) -> int:
    try:
        usd = Decimal(text.removeprefix("$"))
    except InvalidOperation:
        fail(f"AMOUNT must be a number of US dollars, like 5 or 2.50; got {text!r}", 2)
    if not usd.is_finite() or usd <= 0 or usd > MAX_TOP_UP_USD:
        fail(f"AMOUNT must be more than 0 and at most {MAX_TOP_UP_USD} USD; got {text!r}", 2)
    return int(usd * 1_000_000)


def _known_owners(catalog: Catalog) -> set[str]:
    """Owners a session or cofounder.toml names: a top-up for anyone else is likely a typo."""
    settings = catalog.settings
    owners = {s.owner for s in catalog.sessions()}
    return owners | set(settings.owner_allowances) | set(settings.owners)


def _latest_tier(catalog: Catalog, owner: str) -> str:
    mine = [s for s in catalog.sessions() if s.owner == owner]
    return mine[-1].tier if mine else "bootstrapper"


def register(app: typer.Typer) -> None:
    app.command(name="budget")(budget)
