"""Settings refusals name their source and key; numbers have ranges; database URLs are built
and parsed by SQLAlchemy, so a data dir's `?` or `#` never moves a database elsewhere."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cofounder.config import ConfigError, load_settings
from cofounder.storage.db import Database, sqlite_file


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("COFOUNDER_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # where cofounder.toml is looked for


def problems(data_dir: Path | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_settings(data_dir)
    return info.value.problems


def test_a_toml_value_is_named_by_file_and_key_not_as_an_env_var(tmp_path: Path) -> None:
    (tmp_path / "cofounder.toml").write_text(
        f'max_tool_calls = {2**64}\n[prices."openai:my-model"]\ninput = -1\noutput = 1\n'
    )
    found = problems()
    assert found == [
        "cofounder.toml: max_tool_calls: Input should be less than or equal to 1000000"
        f" (got {2**64})",
        'cofounder.toml: prices."openai:my-model".input: Input should be greater than or'
        " equal to 0 (got -1)",
    ]


def test_an_env_value_is_named_by_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COFOUNDER_BUDGET_WINDOW_SECONDS", str(2**63))
    monkeypatch.setenv("COFOUNDER_MAX_WALL_SECONDS", "inf")
    found = problems()
    assert [p.split(":")[0] for p in found] == [
        "COFOUNDER_MAX_WALL_SECONDS",
        "COFOUNDER_BUDGET_WINDOW_SECONDS",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "max_tokens = = 3\n",
            "cofounder.toml: invalid TOML: Invalid value (at line 1, column 14)",
        ),
        (
            "a = " + "[" * 5000 + "]" * 5000 + "\n",
            "cofounder.toml: invalid TOML: nested too deeply",
        ),
    ],
)
def test_a_toml_syntax_error_names_the_file(tmp_path: Path, text: str, expected: str) -> None:
    (tmp_path / "cofounder.toml").write_text(text)
    assert problems() == [expected]


def test_a_special_cofounder_toml_is_refused_not_read(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "cofounder.toml")  # was silently skipped; a read would block
    assert problems() == [
        "cofounder.toml: is a FIFO (named pipe), not a regular file; refusing to read it"
    ]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mysql://u@localhost/db", "unsupported database 'mysql'"),
        ("postgresql+psycopg2://u@h/db", "unsupported database 'postgresql+psycopg2'"),
        ("not a url", "not a database URL"),
    ],
)
def test_unusable_database_urls_are_refused(
    monkeypatch: pytest.MonkeyPatch, url: str, expected: str
) -> None:
    monkeypatch.setenv("COFOUNDER_DATABASE_URL", url)
    [problem] = problems()
    assert problem.startswith(f"COFOUNDER_DATABASE_URL: {expected}")


def test_postgres_and_sqlite_urls_are_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COFOUNDER_DATABASE_URL", "postgres://u:p@localhost:5432/cf")
    settings = load_settings()
    assert settings.dbos_database_url == "postgresql://u:p@localhost:5432/cf"


def test_a_data_dir_with_url_characters_keeps_both_databases_inside(tmp_path: Path) -> None:
    data = tmp_path / "a?b=1#c%41 d"
    settings = load_settings(data)
    assert sqlite_file(settings.app_database_url) == data / "cofounder.sqlite"
    assert sqlite_file(settings.dbos_database_url) == data / "dbos.sqlite"
    db = Database(settings.app_database_url)
    try:
        db.migrate()
    finally:
        db.close()
    assert (data / "cofounder.sqlite").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a?b=1#c%41 d"]


@pytest.mark.parametrize("where", ["env", "toml"])
def test_a_bad_secret_is_refused_without_showing_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    secret = "hunter2-but-short"
    if where == "env":
        monkeypatch.setenv("COFOUNDER_SECRET_KEY", secret)
        source = "COFOUNDER_SECRET_KEY"
    else:
        (tmp_path / "cofounder.toml").write_text(f'secret_key = "{secret}"\n')
        source = "cofounder.toml: secret_key"
    (found,) = problems()
    assert found == f"{source}: Value should have at least 32 characters, not {len(secret)}"
    assert "hunter2" not in found
