"""`ticket-service token` and `migrate` against the real test database."""

from __future__ import annotations

import json

import pytest

from ticket_service import cli
from ticket_service.config import get_settings


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, database_url: str, redis_url: str) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("REDIS_URL", redis_url)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.mark.usefixtures("cli_env")
def test_migrate_is_idempotent(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["migrate"]) == 0
    assert cli.main(["migrate"]) == 0


@pytest.mark.usefixtures("cli_env")
async def test_token_mints_a_working_token(client, capsys: pytest.CaptureFixture[str]) -> None:
    # The CLI runs its own event loop, like it does from a shell.
    import asyncio

    code = await asyncio.to_thread(
        cli.main, ["token", "--discord-id", "4242", "--role", "agent", "--json"]
    )
    assert code == 0
    minted = json.loads(capsys.readouterr().out)
    assert minted["role"] == "agent"
    me = await client.get("/api/v1/me", headers={"access_token": minted["access_token"]})
    assert me.status_code == 200
    assert me.json()["discord_id"] == "4242"
    assert me.json()["role"] == "agent"

    # Without --role an existing user keeps the role; plain output is just the token.
    code = await asyncio.to_thread(cli.main, ["token", "--discord-id", "4242"])
    token = capsys.readouterr().out.strip()
    me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["role"] == "agent"


@pytest.mark.usefixtures("cli_env")
def test_token_refuses_a_non_numeric_id(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["token", "--discord-id", "bob"]) == 2
    assert "digits" in capsys.readouterr().err


def test_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["frobnicate"])
    assert exc.value.code == 2


@pytest.mark.parametrize("command", [["migrate"], ["token", "--discord-id", "1"], ["worker"]])
def test_commands_without_a_database_say_so(
    command: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.chdir("/")  # no .env to read
    get_settings.cache_clear()
    try:
        assert cli.main(command) == 2
    finally:
        get_settings.cache_clear()
    assert "DATABASE_URL is not set" in capsys.readouterr().err
