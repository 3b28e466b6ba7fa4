"""Settings, read once: `COFOUNDER_*` env vars, then `cofounder.toml`, then defaults."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


class Settings(BaseSettings):
    """Everything configurable about a Cofounder process, with embedded defaults."""

    model_config = SettingsConfigDict(
        env_prefix="COFOUNDER_", toml_file="cofounder.toml", extra="forbid"
    )

    home: Path = Field(default=Path(".cofounder"), description="The data dir.")
    database_url: str | None = Field(
        default=None, description="Application database; default SQLite under the data dir."
    )
    system_database_url: str | None = Field(
        default=None,
        description="DBOS system database; default SQLite under the data dir, or database_url "
        "when that is PostgreSQL.",
    )
    max_tool_calls: int = Field(default=150, ge=1)
    max_wall_seconds: float = Field(default=6 * 3600, gt=0)
    repetition_window: int = Field(default=10, ge=2)
    repetition_threshold: int = Field(default=3, ge=2)
    tool_output_limit_chars: int = Field(default=30_000, ge=1_000)
    max_tokens: int = Field(default=8192, ge=1)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))

    @property
    def data_dir(self) -> Path:
        return self.home.expanduser().resolve()

    @property
    def app_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'cofounder.sqlite'}"

    @property
    def dbos_database_url(self) -> str:
        if self.system_database_url:
            return _postgresql_scheme(self.system_database_url)
        if self.database_url and self.database_url.startswith(("postgresql", "postgres://")):
            return _postgresql_scheme(self.database_url)
        return f"sqlite:///{self.data_dir / 'dbos.sqlite'}"

    def sessions_dir(self) -> Path:
        return self.data_dir / "sessions"

    def blobs_dir(self) -> Path:
        return self.data_dir / "blobs"


def _postgresql_scheme(url: str) -> str:
    """`postgres://` is a common alias that not every driver accepts."""
    return (
        "postgresql://" + url.removeprefix("postgres://") if url.startswith("postgres://") else url
    )


def load_settings(data_dir: Path | None = None) -> Settings:
    """`--data-dir` beats `$COFOUNDER_HOME`, which beats the default `./.cofounder`."""
    if data_dir is not None:
        return Settings(home=data_dir)
    return Settings()
