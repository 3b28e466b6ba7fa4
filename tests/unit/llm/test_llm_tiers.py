"""Model by tier: bundled defaults, [tiers] and [owners] overrides, the whole precedence."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from cofounder.config import Settings
from cofounder.llm import DEFAULT_PRICE_BOOK
from cofounder.llm.tiers import (
    BUNDLED_TIER_MODELS,
    DEFAULT_CONTEXT_WINDOW,
    PROVIDER_BASE_URL_ENV,
    PROVIDER_KEY_ENV,
    ROLES,
    TIER_NAMES,
    TierModels,
    choose_model,
    context_window,
)
from cofounder.project.spec import TIERS


def test_bundled_tiers_cover_every_tier_and_role_with_priced_models() -> None:
    assert TIER_NAMES == TIERS
    assert tuple(BUNDLED_TIER_MODELS) == TIERS
    for roles in BUNDLED_TIER_MODELS.values():
        assert tuple(roles) == ROLES
        for spec in roles.values():
            DEFAULT_PRICE_BOOK.price_for(spec)  # raises for an unpriced model


def test_key_env_names_match_the_providers() -> None:
    from cofounder.llm import anthropic_model, openai_model

    assert PROVIDER_KEY_ENV == {
        "anthropic": anthropic_model.API_KEY_ENV,
        "openai": openai_model.API_KEY_ENV,
    }
    assert PROVIDER_BASE_URL_ENV == {
        "anthropic": anthropic_model.BASE_URL_ENV,
        "openai": openai_model.BASE_URL_ENV,
    }


def test_bundled_default_per_tier() -> None:
    table = TierModels()
    assert table.resolve("partner").spec == "anthropic:claude-sonnet-4-5"
    assert table.resolve("partner").source == "bundled"
    assert table.resolve("bootstrapper", "summarizer").spec == "anthropic:claude-haiku-4-5"
    assert table.resolve("cto_scale").describe() == "the bundled default for tier cto_scale"


def test_precedence_cli_project_owner_config_bundled() -> None:
    tiers = TierModels(
        {"partner": {"coder": "openai:gpt-4o"}},
        {"alice": {"coder": "openai:gpt-4.1"}},
    )

    def pick(**kwargs: str | None) -> tuple[str, str]:
        kw = {"tier": "partner", "owner": "alice", **kwargs}
        choice = choose_model(tiers=tiers, **kw)  # type: ignore[arg-type]
        return choice.spec, choice.source

    assert pick(override="openai:gpt-5", project_model="openai:gpt-5-mini") == (
        "openai:gpt-5",
        "cli",
    )
    assert pick(project_model="openai:gpt-5-mini") == ("openai:gpt-5-mini", "project")
    assert pick() == ("openai:gpt-4.1", "owner")
    assert pick(owner="bob") == ("openai:gpt-4o", "config")
    assert pick(owner=None, tier="cto_scale") == ("anthropic:claude-opus-4-5", "bundled")


def test_a_layer_that_sets_only_the_coder_makes_it_summarize_too() -> None:
    tiers = TierModels(
        {"partner": {"coder": "openai:gpt-4o"}, "cto_scale": {"summarizer": "openai:gpt-4o-mini"}}
    )
    assert tiers.resolve("partner", "summarizer").spec == "openai:gpt-4o"
    assert tiers.resolve("partner", "summarizer").source == "config"
    # Only the summarizer overridden: the coder still falls through to the bundled default.
    assert tiers.resolve("cto_scale", "coder").source == "bundled"
    assert tiers.resolve("cto_scale", "summarizer").spec == "openai:gpt-4o-mini"


def test_owner_overrides_summarizer_only() -> None:
    tiers = TierModels(owners={"alice": {"summarizer": "openai:gpt-4o-mini"}})
    table = tiers.table("bootstrapper", owner="alice")
    assert table["coder"].source == "bundled"
    assert (table["summarizer"].spec, table["summarizer"].source) == ("openai:gpt-4o-mini", "owner")
    assert table["summarizer"].describe() == "from [owners.alice] in cofounder.toml"


def test_override_and_project_model_choose_every_role() -> None:
    choice = choose_model(tier="partner", owner=None, role="summarizer", project_model="openai:x")
    assert (choice.spec, choice.source) == ("openai:x", "project")


def test_unknown_tier_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown tier 'enterprise'"):
        TierModels().resolve("enterprise")
    with pytest.raises(ValueError, match="unknown tier"):
        TierModels({"enterprise": {"coder": "openai:gpt-4o"}})


def test_settings_read_tiers_and_owners_from_cofounder_toml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cofounder.toml").write_text(
        '[tiers.partner]\ncoder = "openai:gpt-4o"\n\n'
        '[owners.alice]\ncoder = "anthropic:claude-opus-4-1"\nsummarizer = "openai:gpt-4o-mini"\n'
    )
    settings = Settings()
    tiers = settings.tier_models()
    assert tiers.resolve("partner").spec == "openai:gpt-4o"
    assert tiers.resolve("partner", owner="alice").spec == "anthropic:claude-opus-4-1"
    assert tiers.resolve("partner", "summarizer", owner="alice").spec == "openai:gpt-4o-mini"
    assert tiers.owner_names == ["alice"]


def test_settings_read_tiers_from_env_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COFOUNDER_TIERS", '{"bootstrapper": {"coder": "openai:gpt-4o-mini"}}')
    assert Settings().tier_models().resolve("bootstrapper").spec == "openai:gpt-4o-mini"


@pytest.mark.parametrize(
    ("tiers", "owners", "message"),
    [
        ({"enterprise": {"coder": "openai:gpt-4o"}}, {}, "enterprise"),
        ({"partner": {"reviewer": "openai:gpt-4o"}}, {}, "reviewer"),
        ({"partner": {"coder": "gpt-4o"}}, {}, "malformed model spec"),
        ({"partner": {"coder": "mistral:large"}}, {}, "unknown model provider 'mistral'"),
        ({}, {"../etc": {"coder": "openai:gpt-4o"}}, "owners"),
    ],
)
def test_bad_tier_config_is_refused_precisely(
    tiers: dict[str, object], owners: dict[str, object], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        Settings(tiers=tiers, owners=owners)


def test_context_windows() -> None:
    assert context_window("anthropic:claude-sonnet-4-5") == 200_000
    assert context_window("anthropic:claude-sonnet-4-5-20250929") == 200_000
    assert context_window("openai:gpt-4o-mini") == 128_000
    assert context_window("openai:gpt-4.1-mini") == 1_047_576
    assert context_window("openai:gpt-5") == 272_000
    assert context_window("openai:llama3") == DEFAULT_CONTEXT_WINDOW
    assert context_window("scripted:/x.yaml", default=50_000) == 50_000
    overrides = {"openai:llama3": 8_192, "anthropic:claude-sonnet-4-5": 1_000_000}
    assert context_window("openai:llama3", overrides) == 8_192
    assert context_window("anthropic:claude-sonnet-4-5", overrides) == 1_000_000
    assert context_window("anthropic:claude-haiku-4-5", overrides) == 200_000
    settings = Settings(context_windows={"openai:llama": 4096})
    assert context_window("openai:llama3.1", settings.context_windows) == 4096
