from __future__ import annotations

import pytest
from pydantic import ValidationError

from ticket_service.config import Settings


@pytest.mark.parametrize(
    "given",
    [
        "postgresql://u:p@db:5432/tickets",
        "postgres://u:p@db:5432/tickets",
        "postgresql+psycopg://u:p@db:5432/tickets",
        "postgresql+asyncpg://u:p@db:5432/tickets",
    ],
)
def test_every_postgres_url_spelling_is_accepted(given: str) -> None:
    settings = Settings(_env_file=None, database_url=given)  # type: ignore[call-arg]
    assert settings.database_url == "postgresql://u:p@db:5432/tickets"
    assert settings.sqlalchemy_url == "postgresql+psycopg://u:p@db:5432/tickets"


def test_production_refuses_the_default_secret() -> None:
    with pytest.raises(ValidationError, match="SECRET_KEY"):
        Settings(_env_file=None, environment="production")  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="SECRET_KEY"):
        Settings(_env_file=None, environment="production", secret_key="short")  # type: ignore[call-arg]
    ok = Settings(_env_file=None, environment="production", secret_key="x" * 40)  # type: ignore[call-arg]
    assert ok.environment == "production"


def test_comma_lists_and_guild_scopes_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADMIN_DISCORD_IDS", "1, 2,,3")
    monkeypatch.setenv("DISCORD_AGENT_ROLE_IDS", "900")
    monkeypatch.setenv("DISCORD_GUILD_ID", "555")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.admin_discord_ids == ["1", "2", "3"]
    assert settings.discord_agent_role_ids == ["900"]
    assert settings.discord_scopes == ["identify", "email", "guilds.members.read"]
    monkeypatch.setenv("DISCORD_GUILD_ID", "")
    assert Settings(_env_file=None).discord_scopes == ["identify", "email"]  # type: ignore[call-arg]


def test_missing_urls_are_reported_clearly() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    with pytest.raises(RuntimeError, match="DATABASE_URL"):
        _ = settings.sqlalchemy_url
