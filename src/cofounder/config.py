"""Settings, read once: `COFOUNDER_*` env vars, then `cofounder.toml`, then defaults.

Every number has a range (a value past 2^63 must be refused here, not overflow in SQLite or
`timedelta` mid-session), and every refusal is a ConfigError naming where the value came from:
`COFOUNDER_MAX_TOKENS: …`, `cofounder.toml: prices."openai:x".input: …` or `--data-dir: …`.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal

from pydantic import ByteSize, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from cofounder.config_file import (
    ConfigError,
    check_database_url,
    named_problem,
    read_config_file,
    sqlite_url,
)
from cofounder.config_tables import (
    BUNDLED_ALLOWANCES_USD,
    BUNDLED_TIER_LIMITS,
    TIER_PRIORITY,
    ModelPrice,
    RoleModels,
    TierLimits,
    Usd,
)
from cofounder.llm.pricing import Price, PriceBook
from cofounder.llm.tiers import TierModels
from cofounder.project.spec import OwnerId, Tier
from cofounder.storage.snapshots.manifest import DEFAULT_EXCLUDES, check_exclude_names

__all__ = [
    "BUNDLED_TIER_LIMITS",
    "TIER_PRIORITY",
    "ConfigError",
    "ModelPrice",
    "RoleModels",
    "Settings",
    "TierLimits",
    "load_settings",
]

_DAY = 86_400


class Settings(BaseSettings):
    """Everything configurable about a Cofounder process, with embedded defaults."""

    model_config = SettingsConfigDict(env_prefix="COFOUNDER_", extra="forbid")

    home: Path = Field(default=Path(".cofounder"), description="The data dir.")
    database_url: str | None = Field(
        default=None, description="Application database; default SQLite under the data dir."
    )
    system_database_url: str | None = Field(
        default=None,
        description="DBOS system database; default SQLite under the data dir, or database_url "
        "when that is PostgreSQL.",
    )
    max_tool_calls: int = Field(default=150, ge=1, le=1_000_000)
    max_wall_seconds: float = Field(default=6 * 3600, gt=0, le=366 * _DAY)
    repetition_window: int = Field(default=10, ge=2, le=1_000)
    repetition_threshold: int = Field(default=3, ge=2, le=1_000)
    tool_output_limit_chars: int = Field(default=30_000, ge=1_000, le=100_000_000)
    max_tokens: int = Field(default=8192, ge=1, le=10_000_000)
    object_store: str | None = Field(
        default=None,
        description="Where snapshots live: s3://BUCKET[/PREFIX], file:///PATH or a local path; "
        "default a local directory `objects/` under the data dir.",
    )
    s3_endpoint: str | None = Field(
        default=None,
        description="An S3-compatible endpoint URL for s3:// object stores (http allowed).",
    )
    snapshot_excludes: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: sorted(DEFAULT_EXCLUDES),
        description="Folder names left out of workspace snapshots wherever they appear, because "
        "the project's setup step rebuilds them (dependencies, caches); replaces the default "
        "list (empty: none). Comma-separated in COFOUNDER_SNAPSHOT_EXCLUDES, a TOML list.",
    )

    workspace_volume_size: ByteSize | None = Field(
        default=None,
        ge=64 * 1024**2,
        le=2**50,
        description="Keep the workspaces in an ext4 image of this size (e.g. 50GiB) loop-mounted "
        "at the data dir's `workspaces/`: sandboxed processes then see no host path in "
        "/proc/self/mountinfo, and builds together cannot fill the host's disk. Needs root and "
        "a loop device. Unset: each workspace is a plain folder in its session's folder.",
    )

    chromium: str | None = Field(
        default=None,
        description="The Chromium binary for screenshots; default `chromium` on PATH (Debian "
        "package `chromium`).",
    )
    preview_ready_seconds: float = Field(
        default=30.0,
        gt=0,
        le=600,
        description="How long `preview` waits for the app to answer HTTP before it explains why "
        "it does not.",
    )

    prices: dict[str, ModelPrice] = Field(
        default_factory=dict,
        description='Price overrides in USD per million tokens, e.g. [prices."openai:my-model"].',
    )

    tiers: dict[Tier, RoleModels] = Field(
        default_factory=dict,
        description='Model per role for a tier, e.g. [tiers.partner] coder = "openai:gpt-4o".',
    )
    owners: dict[OwnerId, RoleModels] = Field(
        default_factory=dict,
        description="Model per role for one owner (beats [tiers]), e.g. [owners.alice] coder = "
        '"anthropic:claude-sonnet-4-5".',
    )
    context_windows: dict[str, Annotated[int, Field(ge=1, le=1_000_000_000)]] = Field(
        default_factory=dict,
        description="Context window overrides in tokens, by model spec or spec prefix.",
    )
    compaction_threshold: float = Field(
        default=0.8,
        gt=0,
        le=1,
        description="Compact the conversation when a request would fill this much of the window.",
    )
    compaction_keep_turns: int = Field(
        default=4, ge=1, le=10_000, description="Recent assistant turns always sent verbatim."
    )
    allowances: dict[Tier, Usd] = Field(
        default_factory=dict,
        description="USD per budget window for each tier, over the bundled defaults "
        "(bootstrapper 5, partner 25, cto_scale 100), e.g. [allowances] partner = 40.",
    )
    owner_allowances: dict[OwnerId, Usd] = Field(
        default_factory=dict,
        description="USD per budget window for one owner (beats the tier's), e.g. "
        "[owner_allowances] alice = 12.5.",
    )
    budget_window_seconds: int = Field(
        default=_DAY, ge=1, le=366 * _DAY, description="Length of an allowance window (a UTC day)."
    )
    budget_reset_hour: int = Field(
        default=0, ge=0, le=23, description="UTC hour at which daily windows start."
    )
    wind_down_at: float = Field(
        default=0.9,
        gt=0,
        le=1,
        description="Share of the allowance at which the agent is told to reach a safe stop.",
    )
    max_escalations: int = Field(
        default=5,
        ge=1,
        le=10_000,
        description="Questions to the founder per session before it pauses.",
    )
    escalation_deadline_seconds: int = Field(
        default=24 * 3600,
        ge=1,
        le=366 * _DAY,
        description="How long a question waits for the founder before its default applies.",
    )
    sandbox: Literal["bwrap", "e2b"] = Field(
        default="bwrap",
        description="Where commands run: bwrap (local bubblewrap) or e2b (E2B's cloud; needs "
        "`pip install 'cofounder[e2b]'` and E2B_API_KEY).",
    )
    e2b_template: str | None = Field(default=None, description="E2B template (default: base).")
    e2b_max_ttl_seconds: int = Field(
        default=3600,
        ge=60,
        le=30 * _DAY,
        description="E2B sandbox lifetime cap (1 h Hobby, 24 h Pro).",
    )
    prompt_caching: bool = Field(
        default=True,
        description="Mark cache breakpoints in Anthropic requests (off for proxies that reject "
        "cache_control).",
    )
    tier_limits: dict[Tier, TierLimits] = Field(
        default_factory=dict,
        description="Concurrency and daily caps per tier, over the bundled defaults, e.g. "
        "[tier_limits.partner] per_owner = 3, per_project = 3, per_day = 50.",
    )
    queue_cap: int = Field(
        default=100,
        ge=1,
        le=10_000_000,
        description="Builds that may wait in the queue before a new one is refused as busy.",
    )
    worker_dead_after_seconds: float = Field(
        default=15,
        ge=3,
        le=_DAY,
        description="A worker whose heartbeat is older than this is dead: live workers take "
        "over its sessions.",
    )
    secret_key: SecretStr | None = Field(
        default=None,
        min_length=32,
        max_length=4096,
        description="Signs the dashboard's sign-in cookie (default: a random key kept in "
        "the data dir; set it when several API processes share one database).",
    )
    event_stream_max_seconds: float = Field(
        default=600,
        ge=1,
        le=_DAY,
        description="An SSE response ends after this long and the client resumes from "
        "Last-Event-ID, so no proxy timeout or deploy waits on an endless stream.",
    )
    compaction_tool_result_chars: int = Field(
        default=2_000,
        ge=200,
        le=100_000_000,
        description="Older tool results longer than this are cut to a head and a note.",
    )

    def tier_models(self) -> TierModels:
        """Bundled tier defaults with this configuration's [tiers] and [owners] on top."""
        return TierModels(
            {tier: roles.as_roles() for tier, roles in self.tiers.items()},
            {owner: roles.as_roles() for owner, roles in self.owners.items()},
        )

    def allowance_microdollars(self, owner: str, tier: str) -> int:
        """Owner override, else the tier's configured, else bundled allowance per window."""
        if owner in self.owner_allowances:
            usd = self.owner_allowances[owner]
        elif tier in self.allowances:
            usd = self.allowances[tier]
        else:
            usd = BUNDLED_ALLOWANCES_USD.get(tier, Decimal(0))
        return int(usd * 1_000_000)

    def limits_for(self, tier: str) -> TierLimits:
        """This configuration's limits for the tier, else the bundled ones."""
        if tier in self.tier_limits:
            return self.tier_limits[tier]
        return BUNDLED_TIER_LIMITS.get(tier, BUNDLED_TIER_LIMITS["bootstrapper"])

    def price_book(self) -> PriceBook:
        """Bundled prices with this configuration's overrides on top."""
        return PriceBook(
            {
                spec: Price.usd(p.input, p.output, p.cache_write, p.cache_read)
                for spec, p in self.prices.items()
            }
        )

    @field_validator("database_url", "system_database_url")
    @classmethod
    def _check_database_url(cls, value: str | None) -> str | None:
        if value is not None:
            check_database_url(value)
        return value

    @field_validator("object_store")
    @classmethod
    def _check_object_store(cls, value: str | None) -> str | None:
        if value is not None:  # defaults are validated too: no object-store client for them
            from cofounder.storage.objectstore import parse_location

            parse_location(value)  # ObjectStoreConfigError is a ValueError: a precise message
        return value

    @field_validator("s3_endpoint")
    @classmethod
    def _check_s3_endpoint(cls, value: str | None) -> str | None:
        if not value:
            return None
        from cofounder.storage.objectstore import check_endpoint

        return check_endpoint(value)

    @field_validator("snapshot_excludes", mode="before")
    @classmethod
    def _check_snapshot_excludes(cls, value: object) -> object:
        """A comma-separated string (the environment) or a list; names only, no paths."""
        if isinstance(value, str):
            value = value.split(",") if value.strip() else []
        if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
            return check_exclude_names(value)
        return value  # not strings: pydantic names the wrong type

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, InitSettingsSource(settings_cls, read_config_file()))

    @property
    def data_dir(self) -> Path:
        return self.home.expanduser().resolve()

    @property
    def app_database_url(self) -> str:
        return self.database_url or sqlite_url(self.data_dir / "cofounder.sqlite")

    @property
    def dbos_database_url(self) -> str:
        if self.system_database_url:
            return _postgresql_scheme(self.system_database_url)
        if self.database_url and self.database_url.startswith(("postgresql", "postgres://")):
            return _postgresql_scheme(self.database_url)
        return sqlite_url(self.data_dir / "dbos.sqlite")

    def sessions_dir(self) -> Path:
        return self.data_dir / "sessions"

    def workspaces_dir(self) -> Path:
        """Where `workspace_volume_size` mounts the volume that holds the workspaces."""
        return self.data_dir / "workspaces"

    def workspace_volume_image(self) -> Path:
        return self.data_dir / "workspaces.img"

    def blobs_dir(self) -> Path:
        return self.data_dir / "blobs"

    def objects_dir(self) -> Path:
        """The default object store (snapshots), when `object_store` is unset."""
        return self.data_dir / "objects"


def _postgresql_scheme(url: str) -> str:
    """`postgres://` is a common alias that not every driver accepts."""
    return (
        "postgresql://" + url.removeprefix("postgres://") if url.startswith("postgres://") else url
    )


def load_settings(data_dir: Path | None = None) -> Settings:
    """`--data-dir` beats `$COFOUNDER_HOME`, which beats the default `./.cofounder`.

    Raises ConfigError naming the source and key of every bad value.
    """
    try:
        return Settings(home=data_dir) if data_dir is not None else Settings()
    except ValidationError as exc:
        raise ConfigError(
            [
                named_problem(
                    e["loc"], e["msg"], e.get("input"), data_dir, secret=_is_secret(e["loc"])
                )
                for e in exc.errors()
            ]
        ) from None


def _is_secret(loc: tuple[int | str, ...]) -> bool:
    field = Settings.model_fields.get(str(loc[0])) if loc else None
    return field is not None and "SecretStr" in str(field.annotation)
