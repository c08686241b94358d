"""Transient database errors: the API replays the request when nothing of it stands, a
bounded number of times, and never when the outcome is unknown or Discord is involved.

Faults are injected in the real PostgreSQL with triggers. A trigger counts its calls in a
sequence (sequences are not rolled back), which is how a test knows how many times the
request really ran, whatever the client saw.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
import pytest
from asgi_lifespan import LifespanManager
from prometheus_client import REGISTRY

from tests.async_mode.conftest import (
    ASYNC,
    action,
    assert_accepted,
    jobs,
    run_worker_until_idle,
)
from tests.auth.discord_stub import DiscordStub, sign_in
from tests.conftest import make_settings
from tests.factories import auth_headers, join_team, open_ticket
from ticket_service.main import create_app
from ticket_service.ops.db_retry import replayable_path
from ticket_service.users.models import Role

FAULT = "test_db_retry_fault"
SETUP = f"""
CREATE SEQUENCE {FAULT}_calls;
-- Raise SQLSTATE TG_ARGV[0] on the first TG_ARGV[1] calls, then let the row through.
CREATE FUNCTION {FAULT}_raise() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF nextval('{FAULT}_calls') <= TG_ARGV[1]::int THEN
        RAISE EXCEPTION 'injected by test_db_retry' USING ERRCODE = TG_ARGV[0];
    END IF;
    RETURN NEW;
END $$;
-- The first call kills its own connection: run at COMMIT (deferred), the client loses the
-- connection while COMMIT is in flight.
CREATE FUNCTION {FAULT}_kill() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF nextval('{FAULT}_calls') <= 1 THEN
        PERFORM pg_terminate_backend(pg_backend_pid());
    END IF;
    RETURN NULL;
END $$;
"""
TEARDOWN = f"""
DROP TRIGGER IF EXISTS {FAULT} ON tickets;
DROP TRIGGER IF EXISTS {FAULT} ON auth_sessions;
DROP FUNCTION IF EXISTS {FAULT}_raise() CASCADE;
DROP FUNCTION IF EXISTS {FAULT}_kill() CASCADE;
DROP SEQUENCE IF EXISTS {FAULT}_calls;
"""


@dataclass
class Faults:
    database_url: str

    def sql(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            cur = conn.execute(query, params)  # type: ignore[arg-type]
            return cur.fetchall() if cur.description else []

    def raise_on(self, table: str, event: str, sqlstate: str, times: int) -> None:
        """`event` (INSERT, UPDATE) on `table` fails with `sqlstate` the first `times` times."""
        self.sql(
            f"CREATE TRIGGER {FAULT} BEFORE {event} ON {table} FOR EACH ROW"
            f" EXECUTE FUNCTION {FAULT}_raise('{sqlstate}', '{times}')"
        )

    def raise_at_commit_on_insert(self, table: str, sqlstate: str, times: int) -> None:
        """As raise_on, but at COMMIT (a deferred constraint trigger), as a serializable
        transaction's conflict is often found."""
        self.sql(
            f"CREATE CONSTRAINT TRIGGER {FAULT} AFTER INSERT ON {table}"
            f" DEFERRABLE INITIALLY DEFERRED FOR EACH ROW"
            f" EXECUTE FUNCTION {FAULT}_raise('{sqlstate}', '{times}')"
        )

    def kill_at_commit_on_insert(self, table: str) -> None:
        self.sql(
            f"CREATE CONSTRAINT TRIGGER {FAULT} AFTER INSERT ON {table}"
            f" DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION {FAULT}_kill()"
        )

    def calls(self) -> int:
        """How many times the trigger ran: one per attempt of the request."""
        query = f"SELECT last_value, is_called FROM {FAULT}_calls"  # noqa: S608 - our constant
        [(last_value, is_called)] = self.sql(query)
        return int(last_value) if is_called else 0

    def count(self, table: str) -> int:
        [(n,)] = self.sql(f"SELECT count(*) FROM {table}")  # noqa: S608 - a test's own table name
        return int(n)

    def terminate_other_backends(self) -> int:
        """Kill every connection to the test database but this one (as a PostgreSQL restart
        or a failover would), and wait until they are gone."""
        [(killed,)] = self.sql(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 2000))"
            " FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            " AND backend_type = 'client backend'"
        )
        return int(killed)


@pytest.fixture
def faults(database_url: str) -> Iterator[Faults]:
    injected = Faults(database_url)
    injected.sql(TEARDOWN)  # a test that died half-way must not leave its trigger behind
    injected.sql(SETUP)
    try:
        yield injected
    finally:
        # The database is shared by the whole session: no fault may outlive its test.
        injected.sql(TEARDOWN)


def retries(outcome: str) -> float:
    return REGISTRY.get_sample_value("db_retries_total", {"outcome": outcome}) or 0.0


@pytest.fixture
def metrics_before() -> dict[str, float]:
    return {o: retries(o) for o in ("retried", "exhausted")}


def increments(before: dict[str, float]) -> dict[str, float]:
    """`db_retries_total` by outcome, counted since `before` was taken."""
    return {o: retries(o) - before[o] for o in ("retried", "exhausted")}


def assert_database_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "database_unavailable"
    assert response.headers["retry-after"] == "5"


# --- serialization failures and deadlocks: PostgreSQL rolled back, replay is safe ---------


async def test_serialization_failures_are_replayed_until_the_ticket_opens(
    app, client, faults, metrics_before
):
    headers = await auth_headers(app, "1001")
    faults.raise_on("tickets", "INSERT", "40001", times=2)

    response = await client.post("/api/v1/tickets", json={"text": "Нужен доступ"}, headers=headers)

    assert response.status_code == 201, response.text
    assert faults.calls() == 3  # two failed attempts, then the one that went through
    assert (faults.count("tickets"), faults.count("ticket_events")) == (1, 1)
    [(guid_action,)] = faults.sql("SELECT guid_action::text FROM ticket_events")
    assert guid_action == response.headers["x-action-id"]  # one request, seen from outside
    assert increments(metrics_before) == {"retried": 2, "exhausted": 0}


async def test_the_last_failed_attempt_answers_503_and_leaves_nothing(
    app, client, faults, metrics_before
):
    headers = await auth_headers(app, "1001")
    faults.raise_on("tickets", "INSERT", "40001", times=5)  # more than DB_RETRY_ATTEMPTS

    response = await client.post("/api/v1/tickets", json={"text": "Нужен доступ"}, headers=headers)

    assert_database_unavailable(response)
    assert faults.calls() == 3  # bounded: three attempts, no fourth
    assert (faults.count("tickets"), faults.count("ticket_events")) == (0, 0)
    assert increments(metrics_before) == {"retried": 2, "exhausted": 1}


async def test_a_deadlock_on_a_status_change_is_replayed(app, client, faults, metrics_before):
    author = await auth_headers(app, "1001")
    agent = await auth_headers(app, "2001", Role.agent)
    await join_team(app, "2001")
    ticket = await open_ticket(client, author)
    faults.raise_on("tickets", "UPDATE", "40P01", times=1)

    response = await client.post(
        "/api/tickets/change_status",
        json={"guid_ticket": ticket["guid_ticket"], "new_status": "processing"},
        headers=agent,
    )

    assert response.status_code == 200, response.text
    assert response.json()["response"]["status"] == "processing"
    assert faults.calls() == 2
    events = faults.sql("SELECT kind, to_status FROM ticket_events ORDER BY id")
    assert events == [("opened", "open"), ("assigned", None), ("status_changed", "processing")]
    assert increments(metrics_before) == {"retried": 1, "exhausted": 0}


async def test_a_serialization_failure_at_commit_is_replayed(app, client, faults, metrics_before):
    # The server answered COMMIT with a rollback: unlike a lost connection, nothing is unknown.
    headers = await auth_headers(app, "1001")
    faults.raise_at_commit_on_insert("tickets", "40001", times=1)

    response = await client.post("/api/v1/tickets", json={"text": "Нужен доступ"}, headers=headers)

    assert response.status_code == 201, response.text
    assert faults.calls() == 2
    assert (faults.count("tickets"), faults.count("ticket_events")) == (1, 1)
    assert increments(metrics_before) == {"retried": 1, "exhausted": 0}


async def test_one_attempt_means_no_replay(database_url, redis_url, discord, faults):
    settings = make_settings(
        database_url, redis_url, discord.url_for("/api/v10"), db_retry_attempts=1
    )
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
    ):
        headers = await auth_headers(app, "1001")
        faults.raise_on("tickets", "INSERT", "40001", times=1)
        response = await client.post("/api/v1/tickets", json={"text": "x"}, headers=headers)

    assert_database_unavailable(response)
    assert faults.calls() == 1
    assert faults.count("tickets") == 0


# --- connections lost -------------------------------------------------------------------


async def test_stale_pooled_connections_cost_the_client_nothing(
    app, client, faults, metrics_before
):
    headers = await auth_headers(app, "1001")

    async def pool_of_dead_connections() -> None:
        # Fresh connections, idle in the pool; then a PostgreSQL restart or failover, as the
        # pool sees it: every connection it holds is dead and it does not know yet.
        await app.state.engine.dispose()
        warm = [client.get("/api/v1/tickets", headers=headers) for _ in range(3)]
        assert [r.status_code for r in await asyncio.gather(*warm)] == [200, 200, 200]
        assert app.state.engine.pool.checkedin() >= 1
        assert faults.terminate_other_backends() >= 1

    await pool_of_dead_connections()
    listed = await client.get("/api/v1/tickets", headers=headers)
    assert listed.status_code == 200, listed.text
    assert increments(metrics_before)["retried"] == 1  # the dead connection was hit, and replaced

    await pool_of_dead_connections()
    opened = await client.post("/api/v1/tickets", json={"text": "После рестарта"}, headers=headers)
    assert opened.status_code == 201, opened.text
    assert (faults.count("tickets"), faults.count("ticket_events")) == (1, 1)
    assert increments(metrics_before) == {"retried": 2, "exhausted": 0}

    # A change reads its ticket on the driver's connection (kit/driver_sql.py): a dead one
    # is invalidated there too, and the request replayed on a fresh one.
    await pool_of_dead_connections()
    guid = opened.json()["guid_ticket"]
    withdrawn = await client.post(
        f"/api/v1/tickets/{guid}/status", json={"status": "closed_fail"}, headers=headers
    )
    assert withdrawn.status_code == 200, withdrawn.text
    assert withdrawn.json()["status"] == "closed_fail"
    assert faults.count("ticket_events") == 2
    assert increments(metrics_before) == {"retried": 3, "exhausted": 0}


async def test_readiness_after_a_restart_reports_the_database_up(app, client, faults):
    # /health/ready reads through the same un-pinged pool: a dead pooled connection must
    # not make a healthy database look down (an orchestrator would pull the replica).
    await app.state.engine.dispose()
    warm = await client.get("/health/ready")
    assert warm.json()["database"] == "up"
    assert app.state.engine.pool.checkedin() >= 1
    assert faults.terminate_other_backends() >= 1

    ready = await client.get("/health/ready")
    assert ready.status_code == 200, ready.text
    assert ready.json()["database"] == "up"


async def test_a_connection_lost_during_commit_is_not_replayed(app, client, faults, metrics_before):
    headers = await auth_headers(app, "1001")
    faults.kill_at_commit_on_insert("tickets")

    response = await client.post("/api/v1/tickets", json={"text": "Нужен доступ"}, headers=headers)

    # The commit's outcome is unknown to the API (here it did not happen): a replay could
    # open the ticket twice, so the client gets the 503 and decides.
    assert_database_unavailable(response)
    assert faults.calls() == 1  # a replay would have run the trigger again, and got through
    assert faults.count("tickets") == 0
    assert increments(metrics_before) == {"retried": 0, "exhausted": 0}
    # The service is fine afterwards.
    assert (await client.get("/api/v1/tickets", headers=headers)).status_code == 200


# --- never replayed: the Discord sign-in --------------------------------------------------


async def test_a_discord_sign_in_is_not_replayed(client, discord, faults, metrics_before):
    stub = DiscordStub(discord)
    code = stub.user("42")
    faults.raise_on("auth_sessions", "INSERT", "40001", times=1)

    response = await sign_in(client, code)

    # A replay would trade the same code at Discord again, which refuses a used code.
    assert_database_unavailable(response)
    assert faults.calls() == 1
    assert len(stub.requests_to("/oauth2/token")) == 1
    assert increments(metrics_before) == {"retried": 0, "exhausted": 0}


def test_which_paths_are_replayable():
    assert not replayable_path("/api/discord/auth")
    assert not replayable_path("/api/discord/auth_link")
    assert replayable_path("/api/v1/tickets")
    assert replayable_path("/api/tickets/change_status")


# --- the worker: procrastinate retries the job -------------------------------------------


async def test_a_transient_error_in_a_job_is_retried_not_lost(
    app, client, settings, database_url, faults
):
    author = await auth_headers(app, "1001")
    guid = assert_accepted(
        await client.post("/api/v1/tickets", json={"text": "x"}, headers={**author, **ASYNC})
    )
    faults.raise_on("tickets", "INSERT", "40001", times=1)

    await run_worker_until_idle(settings, deadline_seconds=0)  # one pass: fails
    assert faults.calls() == 1
    assert [j["status"] for j in jobs(database_url)] == ["todo"]  # to be retried
    faults.sql("UPDATE procrastinate_jobs SET scheduled_at = now()")  # skip the backoff
    await run_worker_until_idle(settings)

    done = await action(client, author, guid)
    assert (done["status"], done["status_code"]) == ("succeeded", 201)
    assert faults.calls() == 2
    assert faults.count("tickets") == 1
