"""Daily pruning of the queue: finished procrastinate jobs and finished async actions go
after their retention, waiting and running ones never. Run by the real worker."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from pydantic import ValidationError

from tests.conftest import make_settings
from tests.factories import auth_headers
from ticket_service.actions.pruning import prune_async_actions
from ticket_service.config import Settings
from ticket_service.users.models import Role
from ticket_service.worker.app import jobs as registry
from ticket_service.worker.app import open_jobs
from ticket_service.worker.pruning import prune_jobs
from ticket_service.worker.resources import open_resources


def _job(conn: psycopg.Connection[Any], status: str, days_ago: float, **columns: Any) -> int:
    """A job whose last event (its end, for a finished one) happened `days_ago` days ago."""
    row = conn.execute(
        "INSERT INTO procrastinate_jobs (queue_name, task_name, status, args, scheduled_at)"
        " VALUES ('default', 'some_task', %s, '{}', %s) RETURNING id",
        (status, columns.get("scheduled_at")),
    ).fetchone()
    assert row is not None
    conn.execute(
        "INSERT INTO procrastinate_events (job_id, type, at)"
        " VALUES (%s, %s, now() - make_interval(secs => %s))",
        (row[0], "deferred" if status in ("todo", "doing") else status, days_ago * 86400),
    )
    return int(row[0])


def _remaining_jobs(database_url: str) -> set[int]:
    with psycopg.connect(database_url) as conn:
        return {r[0] for r in conn.execute("SELECT id FROM procrastinate_jobs")}


async def _run_prunes(settings: Settings) -> None:
    """Defer both periodic tasks as the periodic deferrer would, and let the worker run
    every due job (the inserted todo job is scheduled for tomorrow, so it is not due)."""
    async with open_jobs(settings) as app, open_resources(settings) as resources:
        await prune_jobs.defer_async(timestamp=0)
        await prune_async_actions.defer_async(timestamp=0)
        await app.run_worker_async(
            wait=False,
            install_signal_handlers=False,
            listen_notify=False,
            additional_context={"resources": resources},
        )


def _prune_job_statuses(database_url: str) -> dict[str, str]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT task_name, status::text FROM procrastinate_jobs"
            " WHERE task_name IN ('prune_jobs', 'prune_async_actions')"
        ).fetchall()
    return dict(rows)


def test_the_worker_schedules_both_prunes_daily() -> None:
    periodic = registry.periodic_registry.periodic_tasks.values()
    crons = {p.task.name: p.cron.split() for p in periodic}
    for name in ("prune_jobs", "prune_async_actions"):
        minute, hour, *every_day = crons[name]
        assert (minute.isdigit(), hour.isdigit(), every_day) == (True, True, ["*", "*", "*"])


async def test_prune_jobs_keeps_failed_longer_and_never_touches_waiting_ones(
    settings, database_url
) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        old_success = _job(conn, "succeeded", 8)
        recent_success = _job(conn, "succeeded", 6)
        recent_failure = _job(conn, "failed", 8)  # older than JOBS_KEEP_DAYS, kept 30
        old_failure = _job(conn, "failed", 31)
        old_cancelled = _job(conn, "cancelled", 31)
        old_aborted = _job(conn, "aborted", 31)
        waiting = _job(conn, "todo", 40, scheduled_at=datetime.now(UTC) + timedelta(days=1))
        running = _job(conn, "doing", 40)
    assert (settings.jobs_keep_days, settings.jobs_keep_failed_days) == (7, 30)

    await _run_prunes(settings)

    assert _prune_job_statuses(database_url) == {
        "prune_jobs": "succeeded",
        "prune_async_actions": "succeeded",
    }
    left = _remaining_jobs(database_url)
    assert {old_success, old_failure, old_cancelled, old_aborted}.isdisjoint(left)
    assert {recent_success, recent_failure, waiting, running} <= left
    with psycopg.connect(database_url) as conn:
        orphans = conn.execute(
            "SELECT count(*) FROM procrastinate_events e"
            " LEFT JOIN procrastinate_jobs j ON j.id = e.job_id WHERE j.id IS NULL"
        ).fetchone()
    assert orphans == (0,)


async def test_failed_jobs_stay_when_their_retention_is_zero(
    settings, database_url, redis_url, discord
) -> None:
    keep = make_settings(
        database_url, redis_url, discord.url_for("/api/v10"), jobs_keep_failed_days=0
    )
    with psycopg.connect(database_url, autocommit=True) as conn:
        ancient_failure = _job(conn, "failed", 400)
        ancient_success = _job(conn, "succeeded", 400)

    await _run_prunes(keep)

    left = _remaining_jobs(database_url)
    assert ancient_failure in left
    assert ancient_success not in left


def test_failed_jobs_cannot_be_kept_shorter_than_succeeded_ones(database_url) -> None:
    with pytest.raises(ValidationError, match="JOBS_KEEP_FAILED_DAYS"):
        Settings(_env_file=None, jobs_keep_days=7, jobs_keep_failed_days=3)  # type: ignore[call-arg]


async def test_prune_async_actions_removes_only_finished_old_ones(
    app, settings, database_url
) -> None:
    await auth_headers(app, "4242", Role.employee)
    rows = {
        "old_succeeded": ("succeeded", 8),
        "old_failed": ("failed", 8),
        "recent_succeeded": ("succeeded", 6),
        "old_queued": ("queued", 30),
        "old_running": ("running", 30),
    }
    guids = {name: uuid.uuid4() for name in rows}
    with psycopg.connect(database_url, autocommit=True) as conn:
        for name, (status, days_ago) in rows.items():
            conn.execute(
                "INSERT INTO async_actions (guid_action, type, actor_id, request_id, payload,"
                " status, created_at, updated_at)"
                " SELECT %s, 'open_ticket', id, 'req', '{}', %s,"
                " now() - make_interval(secs => %s), now() - make_interval(secs => %s)"
                " FROM users WHERE discord_id = '4242'",
                (guids[name], status, days_ago * 86400 + 60, days_ago * 86400),
            )
    assert settings.async_actions_keep_days == 7

    await _run_prunes(settings)

    with psycopg.connect(database_url) as conn:
        left = {r[0] for r in conn.execute("SELECT guid_action FROM async_actions")}
    assert left == {guids["recent_succeeded"], guids["old_queued"], guids["old_running"]}
    assert _prune_job_statuses(database_url)["prune_async_actions"] == "succeeded"
