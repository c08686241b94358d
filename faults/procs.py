"""The service's own processes (`ticket-service api|worker|migrate|token`), logs to files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

CLI = [sys.executable, "-m", "ticket_service.cli"]


def service_env(database_url: str, redis_url: str, webhook_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        ENVIRONMENT="test",
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        WEBHOOK_URLS=webhook_url,
        WEBHOOK_SECRET="fault-suite",  # noqa: S106 - a local receiver
        OUTBOUND_ALLOWED_HOSTS="127.0.0.1",  # the receiver is local, as an operator would allow
        NOTIFY_RETRY_BASE_SECONDS="0.2",
        NOTIFY_MAX_ATTEMPTS="10",
        NOTIFY_TIMEOUT_SECONDS="5",
        # A killed worker's lease runs out well within the drain's wait.
        NOTIFY_LEASE_SECONDS="10",
        WORKER_HEARTBEAT_SECONDS="1",
        WORKER_STALLED_AFTER_SECONDS="3",
        WORKER_STALLED_CHECK_SECONDS="2",
        RATE_LIMIT_PER_MINUTE="0",
        AUTH_RATE_LIMIT_PER_MINUTE="0",
        LOG_FORMAT="json",
        LOG_LEVEL="INFO",
        PYTHONUNBUFFERED="1",
    )
    for name in ("SMTP_HOST", "SLACK_WEBHOOK_URL", "DISCORD_WEBHOOK_URL", "DISCORD_BOT_TOKEN"):
        env.pop(name, None)  # only the receiver we count
    return env


def run_cli(args: list[str], env: dict[str, str], log_dir: Path, name: str) -> str:
    with open(log_dir / f"{name}.log", "ab") as log:
        done = subprocess.run(  # noqa: S603 - our own CLI
            [*CLI, *args], env=env, stdout=subprocess.PIPE, stderr=log, timeout=120, check=True
        )
    return done.stdout.decode()


def mint_token(discord_id: str, role: str, env: dict[str, str], log_dir: Path) -> str:
    out = run_cli(
        ["token", "--discord-id", discord_id, "--role", role, "--json"], env, log_dir, "token"
    )
    return str(json.loads(out)["access_token"])


class Child:
    """One long-running child in its own session, its output appended to a log file."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.args = args
        self.env = env
        self.log_path = log_dir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our own CLI
                [*CLI, *self.args],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self, grace: float = 15) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.kill()


def wait_ready(base_url: str, child: Child, timeout: float = 60) -> None:
    """Until /health/ready answers 200 (bounded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not child.alive():
            raise RuntimeError(f"{child.name} exited early, see {child.log_path}")
        try:
            if httpx.get(f"{base_url}/health/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{child.name} not ready after {timeout:.0f}s, see {child.log_path}")
