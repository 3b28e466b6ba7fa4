"""Prices in integer microdollars; exact costs; unknown models are an error, never free."""

from __future__ import annotations

import pytest

from cofounder.llm import DEFAULT_PRICE_BOOK, ModelError, Price, PriceBook, Usage


def test_usd_prices_convert_exactly() -> None:
    assert Price.usd("3", "15", "3.75", "0.30") == Price(3_000_000, 15_000_000, 3_750_000, 300_000)
    assert Price.usd(0.1, 0.4) == Price(100_000, 400_000, 100_000, 100_000)
    with pytest.raises(ValueError, match="finer than a microdollar"):
        Price.usd("0.0000001", "1")
    with pytest.raises(ValueError, match="non-negative integer"):
        Price(-1, 0, 0, 0)


def test_cost_to_the_microdollar() -> None:
    usage = Usage(
        input_tokens=1_000, output_tokens=500, cache_write_tokens=2_000, cache_read_tokens=10_000
    )
    # 1000*$3 + 500*$15 + 2000*$3.75 + 10000*$0.30 per MTok = $0.021
    assert DEFAULT_PRICE_BOOK.cost_microdollars("anthropic:claude-sonnet-4-5", usage) == 21_000
    # gpt-4o: 1000*$2.50 + 500*$10 + 2000*$2.50 + 10000*$1.25 = $0.025
    assert DEFAULT_PRICE_BOOK.cost_microdollars("openai:gpt-4o", usage) == 25_000


def test_rounding_is_half_up_once_at_the_end() -> None:
    one = Price(1, 0, 0, 0)  # 1 µ$ per million tokens
    assert one.cost_microdollars(Usage(input_tokens=499_999)) == 0
    assert one.cost_microdollars(Usage(input_tokens=500_000)) == 1
    assert one.cost_microdollars(Usage(input_tokens=1_500_000)) == 2  # not banker's rounding
    assert one.cost_microdollars(Usage(input_tokens=2_500_000)) == 3
    # parts are summed before rounding: 0.4 + 0.4 µ$ -> 1, not 0 + 0
    split = Price(1, 1, 0, 0)
    assert split.cost_microdollars(Usage(input_tokens=400_000, output_tokens=400_000)) == 1


def test_huge_counts_stay_exact() -> None:
    price = Price.usd("15", "75", "18.75", "1.50")
    usage = Usage(input_tokens=10**12 + 1, output_tokens=3)
    assert price.cost_microdollars(usage) == 15 * (10**12 + 1) + 225 // 1


def test_dated_snapshots_price_like_their_family() -> None:
    book = PriceBook()
    assert book.price_for("anthropic:claude-sonnet-4-5-20250929") == book.price_for(
        "anthropic:claude-sonnet-4-5"
    )
    assert book.price_for("openai:gpt-4o-2024-08-06") == book.price_for("openai:gpt-4o")
    assert book.price_for("openai:gpt-4o-mini") != book.price_for("openai:gpt-4o")


def test_unknown_model_is_a_clear_error() -> None:
    with pytest.raises(ModelError, match=r"no price for openai:foo: add one under \[prices\]"):
        PriceBook().price_for("openai:foo")


def test_scripted_models_are_free() -> None:
    usage = Usage(input_tokens=10**6, output_tokens=10**6)
    assert PriceBook().cost_microdollars("scripted:/tmp/demo.yaml", usage) == 0


def test_overrides_win_and_add() -> None:
    book = PriceBook(
        {
            "openai:gpt-4o": Price.usd("1", "2"),
            "openai:qwen2.5-coder": Price(0, 0, 0, 0),
        }
    )
    assert book.price_for("openai:gpt-4o") == Price.usd("1", "2", "1", "1")
    assert book.cost_microdollars("openai:qwen2.5-coder", Usage(input_tokens=5)) == 0
    assert "openai:qwen2.5-coder" in book.known_specs()
    # the default book is untouched
    assert DEFAULT_PRICE_BOOK.price_for("openai:gpt-4o") == Price.usd("2.50", "10", "2.50", "1.25")
