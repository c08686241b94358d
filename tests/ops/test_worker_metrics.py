"""The worker's own /metrics, as Prometheus scrapes it: the real `ticket-service worker`
process, a real webhook receiver on 127.0.0.1, scraped over HTTP."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from tests.conftest import make_settings
from tests.factories import auth_headers, open_ticket
from tests.notifications.conftest import deliveries
from tests.notifications.retry_helpers import (
    Receiver,
    Reply,
    eventually,
    free_port,
    start_worker,
    stop_all,
)
from tests.ops.test_metrics import Scrape
from ticket_service.config import Settings
from ticket_service.devserver import _metrics_port
from ticket_service.users.models import Role

TOKEN = "worker-metrics-token-0123456789"
# Only waits for a fresh Python process to start on a busy machine.
STARTUP_SECONDS = 30


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook receiver that fails the first delivery attempt (500) and takes the next."""
    with Receiver([Reply(500)]) as server:
        yield server


@pytest.fixture
def settings(database_url: str, redis_url: str, discord: Any, receiver: Receiver) -> Settings:
    return make_settings(
        database_url,
        redis_url,
        discord.url_for("/api/v10"),
        webhook_urls=[receiver.url],
        webhook_secret="s3cret",
        notify_retry_base_seconds=0.05,
    )


@pytest.fixture
def workers() -> Iterator[list[subprocess.Popen[bytes]]]:
    processes: list[subprocess.Popen[bytes]] = []
    yield processes
    stop_all(processes)


def _get(url: str, token: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.get(url, headers=headers, timeout=5)


def _answers(url: str, worker: subprocess.Popen[bytes], log: Path) -> bool:
    assert worker.poll() is None, f"the worker exited: {log.read_text()[-3000:]}"
    try:
        return _get(url, TOKEN).status_code == 200
    except httpx.TransportError:  # not listening yet
        return False


def _scrape(url: str) -> Scrape:
    response = _get(url, TOKEN)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return Scrape(response.text)


async def test_worker_metrics_count_attempts_and_jobs_behind_the_token(
    app, client, settings, database_url, receiver, workers, tmp_path
) -> None:
    log = tmp_path / "worker.log"
    port = free_port()
    url = f"http://127.0.0.1:{port}/metrics"
    started = time.time()
    workers.append(
        worker := start_worker(
            settings,
            tmp_path,
            log,
            METRICS_TOKEN=TOKEN,
            WORKER_METRICS_PORT=str(port),
            WORKER_METRICS_HOST="127.0.0.1",
        )
    )
    await eventually(lambda: _answers(url, worker, log), STARTUP_SECONDS, "the worker's /metrics")

    missing = _get(url)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    assert missing.json()["error"]["code"] == "missing_token"
    assert _get(url, "wrong-token").json()["error"]["code"] == "invalid_token"
    assert _get(url.replace("/metrics", "/other"), TOKEN).status_code == 404

    before = _scrape(url)
    assert before.value("notification_attempts_total", channel="webhook", outcome="sent") == 0
    assert before.get("worker_job_loop_up") == 1
    heartbeat = before.get("worker_last_heartbeat_timestamp_seconds")
    assert heartbeat is not None
    assert started <= heartbeat <= time.time()

    await open_ticket(client, await auth_headers(app, "200", Role.employee))
    await eventually(
        lambda: [d["status"] for d in deliveries(database_url)] == ["sent"],
        STARTUP_SECONDS,
        f"the webhook delivery sent on its second attempt; log: {log}",
    )
    after = _scrape(url)

    assert [hit.status for hit in receiver.hits] == [500, 200]
    attempts = {
        outcome: after.value("notification_attempts_total", channel="webhook", outcome=outcome)
        for outcome in ("sent", "failed", "dead")
    }
    assert attempts == {"sent": 1, "failed": 1, "dead": 0}
    runs = {
        outcome: after.value("worker_jobs_total", task="deliver", outcome=outcome)
        for outcome in ("succeeded", "retried", "failed")
    }
    assert runs == {"succeeded": 1, "retried": 1, "failed": 0}
    assert after.value("worker_job_duration_seconds_count", task="deliver") == 2
    # What the api computes from PostgreSQL is not repeated by the worker.
    assert not after.names() & {"job_queue_depth", "notification_deliveries", "tickets"}

    worker.terminate()
    assert worker.wait(timeout=20) == 0, log.read_text()[-3000:]


async def test_port_zero_serves_no_metrics(
    app, client, settings, receiver, workers, tmp_path
) -> None:
    log = tmp_path / "worker.log"
    workers.append(worker := start_worker(settings, tmp_path, log, WORKER_METRICS_PORT="0"))
    await open_ticket(client, await auth_headers(app, "200", Role.employee))
    # The worker is up and running jobs ...
    await eventually(lambda: receiver.hits, STARTUP_SECONDS, f"a delivery attempt; log: {log}")
    # ... and listens on no port at all.
    listening = [
        c.laddr
        for c in psutil.Process(worker.pid).net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN
    ]
    assert listening == []
    assert "worker_metrics_off" in log.read_text()


def test_dev_moves_the_worker_metrics_off_a_taken_port() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        moved = _metrics_port("127.0.0.1", busy)
        assert moved not in (0, busy)
    free = free_port()
    assert _metrics_port("127.0.0.1", free) == free
    assert _metrics_port("127.0.0.1", 0) == 0
