"""Prices: integer microdollars per million tokens, and exact integer costs.

Cost of one call, in microdollars:

    (input * p.input + output * p.output + cache_write * p.cache_write
     + cache_read * p.cache_read) / 1_000_000

computed on integers and rounded half up once, at the end (so 0.5 µ$ -> 1 µ$, 0.49 µ$ -> 0).
Usage counts are disjoint: `input_tokens` excludes cache reads and writes (Anthropic reports it
that way; the OpenAI provider subtracts cached tokens from prompt_tokens).

Bundled list prices (USD per million tokens), checked against the providers' public pricing
pages: Anthropic https://platform.claude.com/docs/en/about-claude/pricing (cache write = the
5-minute TTL price, which is what `{"type": "ephemeral"}` buys), and OpenAI
https://openai.com/api/pricing (OpenAI has no cache-write surcharge, so cache_write = input).
Prices change; `[prices]` in cofounder.toml overrides any entry or adds new ones.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from cofounder.llm.messages import Usage
from cofounder.llm.protocol import ModelError

MICRO_PER_DOLLAR = 1_000_000
TOKENS_PER_PRICE_UNIT = 1_000_000


@dataclass(frozen=True)
class Price:
    """Microdollars per million tokens (so $3 / MTok is 3_000_000)."""

    input: int
    output: int
    cache_write: int
    cache_read: int

    def __post_init__(self) -> None:
        for name in ("input", "output", "cache_write", "cache_read"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"price {name} must be a non-negative integer, got {value!r}")

    @classmethod
    def usd(
        cls,
        input: str | int | float | Decimal,
        output: str | int | float | Decimal,
        cache_write: str | int | float | Decimal | None = None,
        cache_read: str | int | float | Decimal | None = None,
    ) -> Price:
        """From dollars per million tokens, exactly (floats go through their shortest repr).

        A missing cache_write defaults to the input price, a missing cache_read to the input
        price too (no discount assumed: overcharging is safer than undercharging).
        """
        write = input if cache_write is None else cache_write
        read = input if cache_read is None else cache_read
        return cls(_micro(input), _micro(output), _micro(write), _micro(read))

    def cost_microdollars(self, usage: Usage) -> int:
        numerator = (
            usage.input_tokens * self.input
            + usage.output_tokens * self.output
            + usage.cache_write_tokens * self.cache_write
            + usage.cache_read_tokens * self.cache_read
        )
        return (numerator + TOKENS_PER_PRICE_UNIT // 2) // TOKENS_PER_PRICE_UNIT


def _micro(dollars: str | int | float | Decimal) -> int:
    try:
        value = Decimal(str(dollars)) * MICRO_PER_DOLLAR
    except InvalidOperation:
        raise ValueError(f"not a price: {dollars!r}") from None
    if value < 0 or value != value.to_integral_value():
        raise ValueError(f"price {dollars!r} $/MTok is negative or finer than a microdollar")
    return int(value)


FREE = Price(0, 0, 0, 0)

_CLAUDE_OPUS_4 = Price.usd("15", "75", "18.75", "1.50")
_CLAUDE_OPUS_45 = Price.usd("5", "25", "6.25", "0.50")
_CLAUDE_SONNET_4 = Price.usd("3", "15", "3.75", "0.30")
_CLAUDE_HAIKU_45 = Price.usd("1", "5", "1.25", "0.10")
_CLAUDE_HAIKU_35 = Price.usd("0.80", "4", "1", "0.08")

BUNDLED_PRICES: Mapping[str, Price] = {
    # Anthropic
    "anthropic:claude-opus-4-7": _CLAUDE_OPUS_45,
    "anthropic:claude-opus-4-6": _CLAUDE_OPUS_45,
    "anthropic:claude-opus-4-5": _CLAUDE_OPUS_45,
    "anthropic:claude-opus-4-1": _CLAUDE_OPUS_4,
    "anthropic:claude-opus-4-0": _CLAUDE_OPUS_4,
    "anthropic:claude-opus-4": _CLAUDE_OPUS_4,
    "anthropic:claude-sonnet-4-6": _CLAUDE_SONNET_4,
    "anthropic:claude-sonnet-4-5": _CLAUDE_SONNET_4,
    "anthropic:claude-sonnet-4-0": _CLAUDE_SONNET_4,
    "anthropic:claude-sonnet-4": _CLAUDE_SONNET_4,
    "anthropic:claude-3-7-sonnet": _CLAUDE_SONNET_4,
    "anthropic:claude-haiku-4-5": _CLAUDE_HAIKU_45,
    "anthropic:claude-3-5-haiku": _CLAUDE_HAIKU_35,
    # OpenAI (cached input is the cache_read price)
    "openai:gpt-5": Price.usd("1.25", "10", "1.25", "0.125"),
    "openai:gpt-5-mini": Price.usd("0.25", "2", "0.25", "0.025"),
    "openai:gpt-5-nano": Price.usd("0.05", "0.40", "0.05", "0.005"),
    "openai:gpt-4.1": Price.usd("2", "8", "2", "0.50"),
    "openai:gpt-4.1-mini": Price.usd("0.40", "1.60", "0.40", "0.10"),
    "openai:gpt-4.1-nano": Price.usd("0.10", "0.40", "0.10", "0.025"),
    "openai:gpt-4o": Price.usd("2.50", "10", "2.50", "1.25"),
    "openai:gpt-4o-mini": Price.usd("0.15", "0.60", "0.15", "0.075"),
}

# Dated snapshots price like their family: claude-sonnet-4-5-20250929, gpt-4o-2024-08-06.
_SNAPSHOT_SUFFIX = re.compile(r"-(?:\d{8}|\d{4}-\d{2}-\d{2}|latest)$")


SCRIPTED_ANY = "scripted:*"


class PriceBook:
    """Bundled prices plus overrides (overrides win). Keys are model specs, `provider:name`."""

    def __init__(
        self,
        overrides: Mapping[str, Price] | None = None,
        *,
        bundled: Mapping[str, Price] = BUNDLED_PRICES,
    ) -> None:
        self._prices: dict[str, Price] = {**bundled, **(overrides or {})}

    def price_for(self, spec: str) -> Price:
        """The price for a model spec; unknown models are an error. Scripted models are free
        unless priced (exactly, or all of them as `scripted:*`), e.g. to rehearse a budget."""
        provider, _, name = spec.partition(":")
        if provider == "scripted":
            return self._prices.get(spec) or self._prices.get(SCRIPTED_ANY) or FREE
        for candidate in (spec, f"{provider}:{_SNAPSHOT_SUFFIX.sub('', name)}"):
            price = self._prices.get(candidate)
            if price is not None:
                return price
        raise ModelError(
            f"no price for {spec}: add one under [prices] in cofounder.toml, e.g."
            f' [prices."{spec}"] input = 3.0, output = 15.0, cache_write = 3.75,'
            " cache_read = 0.3 (USD per million tokens)"
        )

    def cost_microdollars(self, spec: str, usage: Usage) -> int:
        return self.price_for(spec).cost_microdollars(usage)

    def known_specs(self) -> list[str]:
        return sorted(self._prices)


DEFAULT_PRICE_BOOK = PriceBook()
