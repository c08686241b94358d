from __future__ import annotations

import os
import re
import subprocess
import sys
from typing import Any

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


# What a sound production configuration sets; each test below spoils one thing.
PRODUCTION: dict[str, Any] = {
    "environment": "production",
    "secret_key": "x" * 40,
    "public_url": "https://tickets.1440.test",
    "discord_redirect_uri": "https://tickets.1440.test/api/discord/auth",
}


def production(**overrides: Any) -> Settings:
    return Settings(_env_file=None, **{**PRODUCTION, **overrides})  # type: ignore[call-arg]


def test_production_refuses_the_default_secret() -> None:
    with pytest.raises(ValidationError, match="SECRET_KEY"):
        production(secret_key="change-me-in-production")
    with pytest.raises(ValidationError, match="SECRET_KEY"):
        production(secret_key="short")
    assert production().environment == "production"


@pytest.mark.parametrize(
    ("overrides", "line"),
    [
        (
            {"webhook_urls": "https://hooks.example/a"},
            "WEBHOOK_SECRET must be at least 32 characters when WEBHOOK_URLS is set",
        ),
        (
            {"webhook_urls": "https://hooks.example/a", "webhook_secret": "short-secret"},
            "WEBHOOK_SECRET must be at least 32 characters when WEBHOOK_URLS is set",
        ),
        ({"public_url": "http://tickets.1440.test"}, "PUBLIC_URL must be an https:// URL"),
        (
            {"discord_redirect_uri": "http://tickets.1440.test/api/discord/auth"},
            "DISCORD_REDIRECT_URI must be an https:// URL",
        ),
        (
            {"cors_origins": "*", "cors_allow_credentials": True},
            "CORS_ORIGINS=* must not be combined with CORS_ALLOW_CREDENTIALS=true",
        ),
        (
            {"slack_webhook_url": "http://hooks.slack.com/services/T/B/X"},
            "SLACK_WEBHOOK_URL: the URL must use https",
        ),
        (
            {"webhook_urls": "https://169.254.169.254/latest", "webhook_secret": "w" * 32},
            "WEBHOOK_URLS: 169.254.169.254 is a cloud metadata address",
        ),
    ],
)
def test_production_refuses_weak_configuration(overrides: dict[str, Any], line: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(line)):
        production(**overrides)


def test_production_accepts_the_same_done_right() -> None:
    settings = production(
        webhook_urls="https://hooks.example/a",
        webhook_secret="w" * 32,
        cors_origins="*",  # without credentials a wildcard is harmless
        slack_webhook_url="https://hooks.slack.com/services/T/B/X",
    )
    assert settings.outbound_policy.https_only


def test_start_up_names_every_problem_on_a_line_of_its_own() -> None:
    env = {
        "PATH": os.environ["PATH"],
        "ENVIRONMENT": "production",
        "SECRET_KEY": "change-me-in-production",
        "WEBHOOK_URLS": "https://hooks.example/a",
        "CORS_ORIGINS": "*",
        "CORS_ALLOW_CREDENTIALS": "true",
        "DATABASE_URL": "postgresql://u:p@127.0.0.1:1/none",
    }
    done = subprocess.run(
        [sys.executable, "-m", "ticket_service.cli", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert [line.split(" must ")[0] for line in lines] == [
        "configuration: SECRET_KEY",
        "configuration: WEBHOOK_SECRET",
        "configuration: PUBLIC_URL",
        "configuration: DISCORD_REDIRECT_URI",
        "configuration: CORS_ORIGINS=*",
    ]
    assert "Traceback" not in done.stderr


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
