"""The worker runs jobs from PostgreSQL; the periodic prune forgets dead login state."""

from __future__ import annotations

import psycopg

from ticket_service.worker.app import build_app


async def test_prune_auth_removes_only_expired_rows(app, settings, database_url) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO oauth_states (state_hash, expires_at) VALUES "
            "('\\x01', now() - interval '1 minute'), ('\\x02', now() + interval '5 minutes')"
        )
    worker_app = build_app(settings)
    async with worker_app.open_async():
        await worker_app.configure_task("ticket_service:prune_auth").defer_async(timestamp=0)
        await worker_app.run_worker_async(wait=False, install_signal_handlers=False)
    with psycopg.connect(database_url) as conn:
        left = [bytes(r[0]) for r in conn.execute("SELECT state_hash FROM oauth_states")]
        status = conn.execute(
            "SELECT status FROM procrastinate_jobs WHERE task_name = 'ticket_service:prune_auth'"
        ).fetchone()
    assert left == [b"\x02"]
    assert status == ("succeeded",)
