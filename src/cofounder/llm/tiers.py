"""Which model plays which role, by tier and owner; and how large each model's context is.

A project names a tier (`bootstrapper`, `partner`, `cto_scale`) and an owner. When neither
`--model` nor the project's `model:` says which model to use, the tier does:

    --model  >  project `model:`  >  [owners.OWNER]  >  [tiers.TIER]  >  bundled tier default

Each layer maps roles to model specs. Roles: `coder` (drives the build) and `summarizer`
(writes compaction summaries). A layer that names a coder but no summarizer makes its coder
summarize too, so overriding the coder with another provider never leaves the summarizer on a
provider whose key the founder has not set. `--model` and `model:` choose the model for every
role, for the same reason.

Pure data and lookups: no environment, no files. `Settings.tier_models()` builds a TierModels
from `cofounder.toml`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

Role = Literal["coder", "summarizer"]
ROLES: tuple[Role, ...] = ("coder", "summarizer")
Source = Literal["cli", "project", "owner", "config", "bundled"]

# Mirrors cofounder.project.spec.TIERS (llm must not import project); a unit test keeps them equal.
TIER_NAMES: tuple[str, ...] = ("bootstrapper", "partner", "cto_scale")

# Every spec here has a bundled price (llm/pricing.py); a unit test checks it.
BUNDLED_TIER_MODELS: Mapping[str, Mapping[Role, str]] = {
    "bootstrapper": {
        "coder": "anthropic:claude-haiku-4-5",
        "summarizer": "anthropic:claude-haiku-4-5",
    },
    "partner": {
        "coder": "anthropic:claude-sonnet-4-5",
        "summarizer": "anthropic:claude-haiku-4-5",
    },
    "cto_scale": {
        "coder": "anthropic:claude-opus-4-5",
        "summarizer": "anthropic:claude-sonnet-4-5",
    },
}


@dataclass(frozen=True)
class ModelChoice:
    """The model chosen for one role, and which layer chose it (for messages and listings)."""

    spec: str
    role: Role
    source: Source
    tier: str
    owner: str | None = None

    def describe(self) -> str:
        """Where the spec came from, in words: for error messages and `cofounder models`."""
        match self.source:
            case "cli":
                return "from --model"
            case "project":
                return "from the project's model:"
            case "owner":
                return f"from [owners.{self.owner}] in cofounder.toml"
            case "config":
                return f"from [tiers.{self.tier}] in cofounder.toml"
            case "bundled":
                return f"the bundled default for tier {self.tier}"


class TierModels:
    """Bundled tier defaults with `[tiers.*]` and `[owners.*]` overrides on top."""

    def __init__(
        self,
        tiers: Mapping[str, Mapping[Role, str]] | None = None,
        owners: Mapping[str, Mapping[Role, str]] | None = None,
        *,
        bundled: Mapping[str, Mapping[Role, str]] = BUNDLED_TIER_MODELS,
    ) -> None:
        for tier in tiers or {}:
            if tier not in bundled:
                raise ValueError(f"unknown tier {tier!r}; known tiers: {', '.join(bundled)}")
        self._bundled = {t: dict(roles) for t, roles in bundled.items()}
        self._tiers = {t: dict(roles) for t, roles in (tiers or {}).items() if roles}
        self._owners = {o: dict(roles) for o, roles in (owners or {}).items() if roles}

    @property
    def tier_names(self) -> list[str]:
        return list(self._bundled)

    @property
    def owner_names(self) -> list[str]:
        return sorted(self._owners)

    def resolve(self, tier: str, role: Role = "coder", *, owner: str | None = None) -> ModelChoice:
        """The model for `role` in `tier`, with `owner`'s overrides if that owner has any."""
        if tier not in self._bundled:
            raise ValueError(f"unknown tier {tier!r}; known tiers: {', '.join(self._bundled)}")
        layers: list[tuple[Source, Mapping[Role, str]]] = []
        if owner is not None and owner in self._owners:
            layers.append(("owner", self._owners[owner]))
        if tier in self._tiers:
            layers.append(("config", self._tiers[tier]))
        layers.append(("bundled", self._bundled[tier]))
        for source, roles in layers:
            spec = roles.get(role) or roles.get("coder")
            if spec:
                return ModelChoice(spec, role, source, tier, owner if source == "owner" else None)
        raise ValueError(f"tier {tier!r} has no model for role {role!r}")  # bundled lacks it

    def table(self, tier: str, *, owner: str | None = None) -> dict[Role, ModelChoice]:
        """Every role's model in `tier`."""
        return {role: self.resolve(tier, role, owner=owner) for role in ROLES}


BUNDLED_TIER_TABLE = TierModels()


def choose_model(
    *,
    tier: str,
    owner: str | None,
    role: Role = "coder",
    override: str | None = None,
    project_model: str | None = None,
    tiers: TierModels = BUNDLED_TIER_TABLE,
) -> ModelChoice:
    """Apply the whole precedence: `--model`, then `model:`, then owner, tier config, bundled."""
    if override:
        return ModelChoice(override, role, "cli", tier, owner)
    if project_model:
        return ModelChoice(project_model, role, "project", tier, owner)
    return tiers.resolve(tier, role, owner=owner)


# Context windows in tokens (what a request's input may fill). Longest matching prefix wins;
# `[context_windows]` in cofounder.toml overrides or adds entries (exact spec or prefix).
BUNDLED_CONTEXT_WINDOWS: Mapping[str, int] = {
    "anthropic:claude-": 200_000,
    "openai:gpt-4o": 128_000,
    "openai:gpt-4.1": 1_047_576,
    "openai:gpt-5": 272_000,  # 400k in total, of which at most 272k input
}
DEFAULT_CONTEXT_WINDOW = 128_000
_SNAPSHOT_SUFFIX = re.compile(r"-(?:\d{8}|\d{4}-\d{2}-\d{2}|latest)$")


def context_window(
    spec: str,
    overrides: Mapping[str, int] | None = None,
    *,
    default: int = DEFAULT_CONTEXT_WINDOW,
) -> int:
    """The context window of a model spec: overrides, then bundled prefixes, then `default`.

    Unknown models (local servers, scripted) get `default`, which errs small: compacting early
    costs a summary, overflowing the window fails the call.
    """
    table = {**BUNDLED_CONTEXT_WINDOWS, **(overrides or {})}
    provider, _, name = spec.partition(":")
    candidates = (spec, f"{provider}:{_SNAPSHOT_SUFFIX.sub('', name)}")
    for candidate in candidates:
        if candidate in table:
            return table[candidate]
    prefixes = [p for p in table if any(c.startswith(p) for c in candidates)]
    return table[max(prefixes, key=len)] if prefixes else default


# Provider -> the env var that holds its API key (mirrors API_KEY_ENV in anthropic_model and
# openai_model, which import their slow SDKs; a unit test keeps them equal).
PROVIDER_KEY_ENV: Mapping[str, str] = {
    "anthropic": "ANTHROPIC_API_KEY",
    "openai": "OPENAI_API_KEY",
}
PROVIDER_BASE_URL_ENV: Mapping[str, str] = {
    "anthropic": "ANTHROPIC_BASE_URL",
    "openai": "OPENAI_BASE_URL",
}
